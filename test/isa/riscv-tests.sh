#!/usr/bin/env bash
# Builds the official riscv-tests (github.com/riscv-software-src/riscv-tests, with riscv-test-env checked out
# in its env/) from a checkout you supply, runs each on Bonsai, and on QEMU for comparison when
# qemu-system-riscv64 is installed. Nothing of riscv-tests is kept in this repository.
# Usage: test/isa/riscv-tests.sh RISCV_TESTS_DIR [SUITE ...]
#   SUITE: an isa/ folder such as rv64ui, rv64si, rv64mzicbo (default: rv64mi rv64si
#   rv64ssvnapot rv64mzicbo rv64uzfh rv64uzba rv64uzbb rv64uzbs rv64uzbc rv64uzicond). Builds into $OUT (default: a temporary folder). Exit status: the failures on Bonsai.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
rt="${1:?usage: test/isa/riscv-tests.sh RISCV_TESTS_DIR [SUITE ...]}"
shift
[ -f "$rt/isa/Makefile" ] && [ -f "$rt/env/p/link.ld" ] || {
  echo "riscv-tests.sh: $rt is not a riscv-tests checkout with env/ (git clone riscv-test-env into env)" >&2; exit 2; }
suites=("$@")
[ ${#suites[@]} -gt 0 ] || suites=(rv64mi rv64si rv64ssvnapot rv64mzicbo rv64uzfh rv64uzba rv64uzbb rv64uzbs rv64uzbc rv64uzicond)
cc="${CROSS_COMPILE:-riscv64-linux-gnu-}gcc"
command -v "$cc" >/dev/null || { echo "riscv-tests.sh: $cc not found (apt-get install gcc-riscv64-linux-gnu)" >&2; exit 2; }
out="${OUT:-$(mktemp -d)}"
mkdir -p "$out"
bonsai="$here/../../bin/bonsai.js"
qemu="$(command -v qemu-system-riscv64 || true)"
# QEMU 7.2 needs these named to turn them on (Zicbom/Zicboz it does not have; Zfh it calls Zfh).
qemu_cpu="rv64,svpbmt=on,svnapot=on,svinval=on,zba=on,zbb=on,zbc=on,zbs=on,Zfh=on"
fails=0
for suite in "${suites[@]}"; do
  frag="$rt/isa/$suite/Makefrag"
  [ -f "$frag" ] || { echo "riscv-tests.sh: no suite $suite in $rt/isa" >&2; exit 2; }
  # The suite's -march, as isa/Makefile gives it.
  march="$(sed -n "s/.*compile_template,$suite,-march=\([^ ]*\) .*/\1/p" "$rt/isa/Makefile" | head -n 1)"
  tests="$(sed -n "/^${suite}_sc_tests *=/,/^\$/p" "$frag" | tr -d '\\' | sed '1s/.*=//' | xargs)"
  for t in $tests; do
    elf="$out/$suite-p-$t"
    "$cc" -march="${march:-rv64g}" -mabi=lp64d -static -mcmodel=medany -fno-pic -no-pie -fvisibility=hidden \
      -nostdlib -nostartfiles -Wl,--build-id=none -Wl,--no-warn-rwx-segments \
      -I"$rt/env/p" -I"$rt/isa/macros/scalar" -T"$rt/env/p/link.ld" "$rt/isa/$suite/$t.S" -o "$elf"
    if node "$bonsai" run --bios none --kernel "$elf" >/dev/null 2>&1; then b=pass; else b="FAIL($?)"; fails=$((fails + 1)); fi
    q=-
    if [ -n "$qemu" ]; then
      if timeout 20 "$qemu" -M spike -cpu "$qemu_cpu" -bios none -kernel "$elf" -nographic >/dev/null 2>&1; then q=pass; else q="FAIL($?)"; fi
    fi
    printf '%-28s bonsai %-9s qemu %s\n' "$suite-p-$t" "$b" "$q"
  done
done
echo "$fails failed on Bonsai"
exit "$fails"
