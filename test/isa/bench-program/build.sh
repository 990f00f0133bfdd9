#!/usr/bin/env bash
# Builds the CPU benchmark guest: bench.c + start.sx -> bench.elf (committed beside them, like the ISA tests).
# Needs Debian's gcc-riscv64-linux-gnu. Runs on QEMU too:
#   qemu-system-riscv64 -M spike -bios none -kernel bench.elf -nographic     (exit status 0 = checksums match)
# QEMU 7.2 counts 347 million instructions for it (-icount shift=0, minstret at exit). `build.sh -DREPORT`
# builds a variant that prints each kernel's count on the HTIF console (do not commit that one).
# To regenerate the expected checksums after changing a kernel: cc -O2 -DHOST bench.c -o /tmp/bench && /tmp/bench
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
isa="$(dirname "$here")"
cc="${CROSS_COMPILE:-riscv64-linux-gnu-}gcc"
command -v "$cc" >/dev/null || { echo "build.sh: $cc not found (apt-get install gcc-riscv64-linux-gnu)" >&2; exit 1; }
"$cc" -march=rv64gc_zicsr_zifencei -mabi=lp64d -mcmodel=medany -O2 -static -nostdlib -nostartfiles \
  -ffreestanding -fno-tree-loop-distribute-patterns -fno-pic -no-pie -fno-asynchronous-unwind-tables -fno-unwind-tables -fno-stack-protector \
  -Wall -Wextra -Wl,--build-id=none -Wl,--no-warn-rwx-segments -I"$isa" -T "$isa/link.ld" \
  "$@" -o "$here/bench.elf" "$here/start.sx" "$here/bench.c"
echo "built bench-program/bench.elf"
