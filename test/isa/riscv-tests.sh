#!/usr/bin/env bash
# Builds the official riscv-tests ISA programs of the extensions named (the `p` environment: M-mode, no
# virtual memory) from a checkout YOU supply, and runs each on Bonsai and, when installed, on QEMU
# (qemu-system-riscv64 -M spike -bios none). Nothing is fetched and nothing is written to the repository.
#
#   test/isa/riscv-tests.sh RISCV_TESTS_DIR [SUITE ...]     (default suites: rv64uzba rv64uzbb rv64uzbs rv64uzbc rv64uzicond)
#
# RISCV_TESTS_DIR is a checkout of github.com/riscv-software-src/riscv-tests with github.com/riscv/riscv-test-env
# in its env/ folder (a plain clone lacks the submodule: `git submodule update --init env`). The programs are
# built into $TMPDIR (or /tmp)/bonsai-riscv-tests. Exit status: 0 when every program passes on Bonsai.
# binutils 2.40 (Debian 12) lacks Zicond: its two mnemonics come from test/isa/insn.h (as .insn words).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(dirname "$(dirname "$here")")"
[ $# -ge 1 ] || { echo "usage: $0 RISCV_TESTS_DIR [SUITE ...]" >&2; exit 2; }
rt="$1"; shift
[ -f "$rt/isa/macros/scalar/test_macros.h" ] || { echo "riscv-tests.sh: $rt is not a riscv-tests checkout (no isa/macros/scalar/test_macros.h)" >&2; exit 2; }
[ -f "$rt/env/p/riscv_test.h" ] || { echo "riscv-tests.sh: $rt/env is empty: check out riscv-test-env there (git submodule update --init env)" >&2; exit 2; }
cc="${CROSS_COMPILE:-riscv64-linux-gnu-}gcc"
command -v "$cc" >/dev/null || { echo "riscv-tests.sh: $cc not found (apt-get install gcc-riscv64-linux-gnu)" >&2; exit 2; }
[ $# -gt 0 ] || set -- rv64uzba rv64uzbb rv64uzbs rv64uzbc rv64uzicond
out="${TMPDIR:-/tmp}/bonsai-riscv-tests"
mkdir -p "$out"
qemu=""; command -v qemu-system-riscv64 >/dev/null && qemu=qemu-system-riscv64
bpass=0; bfail=(); qpass=0; qfail=()
for suite in "$@"; do
  [ -d "$rt/isa/$suite" ] || { echo "riscv-tests.sh: no suite $suite in $rt/isa" >&2; exit 2; }
  for src in "$rt/isa/$suite"/*.S; do
    name="$suite-p-$(basename "$src" .S)"
    # --build-id=none: QEMU's spike board starts at 0x80000000, where a build-id note would otherwise sit.
    "$cc" -march=rv64gc_zicsr_zifencei_zba_zbb_zbs_zbc -mabi=lp64d -static -mcmodel=medany -fvisibility=hidden \
      -nostdlib -nostartfiles -Wl,--build-id=none -I"$rt/env/p" -I"$rt/isa/macros/scalar" -T "$rt/env/p/link.ld" \
      -include "$here/insn.h" -o "$out/$name" "$src"
    if timeout 60 node "$repo/bin/bonsai.js" run --bios none --kernel "$out/$name" >/dev/null 2>&1; then
      bpass=$((bpass + 1)); else bfail+=("$name"); fi
    if [ -n "$qemu" ]; then
      if timeout 20 "$qemu" -M spike -cpu rv64,zba=true,zbb=true,zbc=true,zbs=true -bios none -kernel "$out/$name" \
        -nographic >/dev/null 2>&1; then qpass=$((qpass + 1)); else qfail+=("$name"); fi
    fi
  done
done
echo "Bonsai: $bpass passed, ${#bfail[@]} failed${bfail[*]:+: ${bfail[*]}}"
[ -z "$qemu" ] || echo "QEMU ($($qemu --version | head -n 1)): $qpass passed, ${#qfail[@]} failed${qfail[*]:+: ${qfail[*]}}"
[ ${#bfail[@]} -eq 0 ]
