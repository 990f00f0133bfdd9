#include "env.h"
TEST_BEGIN
  TEST_RR(2, add, 5, 2, 3)
  TEST_RR(3, add, 0, -1, 1)
  TEST_RI(4, addi, -2, -1, -1)
  j pass
TEST_END
