#!/usr/bin/env bash
# Builds and runs the official riscv-tests (github.com/riscv-software-src/riscv-tests, with riscv-test-env
# checked out in its env/) from a checkout you supply, on Bonsai and, when installed, on QEMU for comparison.
# Nothing is fetched and nothing is written into this repository: the binaries go to a temporary folder.
# Usage: test/isa/riscv-tests.sh CHECKOUT [SUITE ...]   (default suites: rv64uzfh)
#   e.g. test/isa/riscv-tests.sh ~/riscv-tests rv64uzfh rv64uf rv64ud
# Needs Debian's gcc-riscv64-linux-gnu; QEMU's column is skipped without qemu-system-riscv64.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
rt="${1:?usage: riscv-tests.sh CHECKOUT [SUITE ...]}"
shift
[ -f "$rt/env/p/riscv_test.h" ] || { echo "riscv-tests.sh: $rt/env/p/riscv_test.h missing (check riscv-test-env out into env/)" >&2; exit 1; }
suites=("$@")
[ ${#suites[@]} -gt 0 ] || suites=(rv64uzfh)
cc="${CROSS_COMPILE:-riscv64-linux-gnu-}gcc"
command -v "$cc" >/dev/null || { echo "riscv-tests.sh: $cc not found (apt-get install gcc-riscv64-linux-gnu)" >&2; exit 1; }
qemu="$(command -v qemu-system-riscv64 || true)"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
# The -march and QEMU -cpu options each suite needs beyond rv64gc.
march_of() { case "$1" in *zfh) echo rv64gc_zfh ;; *) echo rv64gc ;; esac; }
cpu_of() { case "$1" in *zfh) echo rv64,Zfh=true ;; *) echo rv64 ;; esac; }
pass=0 fail=0
printf '%-28s %-8s %s\n' test bonsai qemu
for suite in "${suites[@]}"; do
  frag="$rt/isa/$suite/Makefrag"
  [ -f "$frag" ] || { echo "riscv-tests.sh: no suite $suite in $rt/isa" >&2; exit 1; }
  names=$(sed -n "/^${suite}_sc_tests *= *\\\\/,/^\$/p" "$frag" | tr -d '\\' | sed "1s/.*=//" | tr -s ' \n\t' ' ')
  for t in $names; do
    elf="$tmp/$suite-p-$t"
    "$cc" -march="$(march_of "$suite")_zicsr_zifencei" -mabi=lp64d -static -mcmodel=medany -fvisibility=hidden \
      -nostdlib -nostartfiles -Wl,--build-id=none -I"$rt/env/p" -I"$rt/isa/macros/scalar" -T "$rt/env/p/link.ld" \
      -o "$elf" "$rt/isa/$suite/$t.S"
    b=pass
    node "$repo/bin/bonsai.js" run --bios none --kernel "$elf" >"$tmp/out" 2>&1 || b=FAIL
    q=-
    if [ -n "$qemu" ]; then
      q=pass
      timeout 20 "$qemu" -M spike -cpu "$(cpu_of "$suite")" -bios none -kernel "$elf" -nographic >/dev/null 2>&1 || q=FAIL
    fi
    printf '%-28s %-8s %s\n' "$suite-p-$t" "$b" "$q"
    if [ "$b" = pass ]; then pass=$((pass + 1)); else fail=$((fail + 1)); sed 's/^/    /' "$tmp/out"; fi
  done
done
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
