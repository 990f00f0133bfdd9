#!/usr/bin/env bash
# Rebuilds vectors.bin.gz, the FPU reference vectors, by running gen.c on a RISC-V implementation:
# Debian's gcc-riscv64-linux-gnu builds it, qemu-user (qemu-riscv64, with Zfh) runs it (or set RUN="" on RISC-V
# hardware with Zfh).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cc="${CROSS_COMPILE:-riscv64-linux-gnu-}gcc"
run="${RUN-qemu-riscv64 -cpu rv64,Zfh=true}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
"$cc" -static -O1 -march=rv64gc_zfh -mabi=lp64d -o "$tmp/gen" "$here/gen.c"
$run "$tmp/gen" > "$tmp/vectors.bin"
gzip -9 -n < "$tmp/vectors.bin" > "$here/vectors.bin.gz"
ls -l "$here/vectors.bin.gz"
