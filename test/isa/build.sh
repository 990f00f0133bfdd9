#!/usr/bin/env bash
# Rebuilds every ISA test program: test/isa/**/NAME.S -> NAME.elf beside it (the .elf files are committed,
# so the test suite needs no cross compiler). Needs Debian's gcc-riscv64-linux-gnu.
# Usage: test/isa/build.sh [FILE.S ...]   (default: all)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cc="${CROSS_COMPILE:-riscv64-linux-gnu-}gcc"
command -v "$cc" >/dev/null || { echo "build.sh: $cc not found (apt-get install gcc-riscv64-linux-gnu)" >&2; exit 1; }
if [ $# -gt 0 ]; then srcs=("$@"); else mapfile -t srcs < <(find "$here" -name '*.S' | sort); fi
for src in "${srcs[@]}"; do
  out="${src%.S}.elf"
  # -march: RV64GC with Zicsr/Zifencei (explicit in newer binutils), or what the file asks for in a comment
  # `/* march: rv64gc_zba_zbb */` (extensions binutils 2.40 lacks, Zicond and Zcb, are macros in insn.h).
  march="$(sed -n 's@.*/\* march: \([a-z0-9_]*\) \*/.*@\1@p' "$src" | head -n 1)"
  "$cc" -march="${march:-rv64gc_zicsr_zifencei}" -mabi=lp64d -static -nostdlib -nostartfiles -mcmodel=medany \
    -fno-pic -no-pie -Wl,--build-id=none -Wl,--no-warn-rwx-segments -I"$here" -T "$here/link.ld" -o "$out" "$src"
  echo "built ${out#$here/}"
done
