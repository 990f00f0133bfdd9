#!/bin/bash
# Builds a Debian trixie riscv64 disk image for Bonsai's compatibility check (npm run compat, docs/compat.md).
#
#   images/debian/build.sh [CACHE]     (default: $BONSAI_CACHE/debian or ~/.cache/bonsai/debian)
#
# Stage 1 on the host: debootstrap --foreign downloads and unpacks the packages into a folder. The folder
# becomes the ext4 root of partition 1 of a raw disk with `mke2fs -d` (no loop mount, no chroot). Stage 2 runs
# inside a riscv64 VM (QEMU, with the bundled kernel, which has virtio-blk and ext4 built in): debootstrap
# --second-stage configures the packages, the kernel's hooks write the initramfs and u-boot-menu's
# /boot/extlinux/extlinux.conf, and this script's guest half sets the rest (below). The results, in CACHE:
#   debian.img            the raw disk: MBR, partition 1 (bootable, ext4, the root: root=/dev/vda1)
#   vmlinux, initrd.img   the Debian kernel and initramfs, copied out of /boot for direct kernel boot
#   id_ed25519[.pub]      the key root's ssh logins accept
#   build-stage2.log      the second stage's console
# Logins: root, password "bonsai", on ttyS0; ssh as root with id_ed25519. Networking: systemd-networkd, DHCP on
# every en*/eth* link. Needs (Debian packages): debootstrap, qemu-system-misc, e2fsprogs, fdisk, openssh-client.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
CACHE=${1:-${BONSAI_CACHE:-$HOME/.cache/bonsai}/debian}
SUITE=trixie
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
SIZE_MIB=${DEBIAN_IMAGE_MIB:-4096}
PART_START=2048 # sectors: partition 1 at 1 MiB, as fdisk and the installers place it
PACKAGES=linux-image-riscv64,e2fsprogs,initramfs-tools,systemd,systemd-sysv,udev,dbus,libpam-systemd,openssh-server,u-boot-menu,iproute2,iputils-ping,netbase,procps,less,ca-certificates

for tool in debootstrap mke2fs debugfs sfdisk qemu-system-riscv64 ssh-keygen; do
  command -v "$tool" >/dev/null || { echo "build.sh: $tool is missing (apt-get install debootstrap e2fsprogs fdisk qemu-system-misc openssh-client)" >&2; exit 1; }
done
[ "$(id -u)" = 0 ] || { echo "build.sh: run as root (debootstrap unpacks files owned by root)" >&2; exit 1; }

mkdir -p "$CACHE"
if [ -f "$CACHE/debian.img" ] && [ -f "$CACHE/vmlinux" ] && [ -f "$CACHE/initrd.img" ]; then
  echo "build.sh: $CACHE/debian.img is built (delete it to build again)"
  exit 0
fi
ROOT=$CACHE/rootfs
IMG=$CACHE/debian.img.part
rm -f "$IMG"

if [ ! -f "$CACHE/stage1.done" ]; then
  echo "== stage 1: debootstrap --foreign $SUITE riscv64 into $ROOT"
  rm -rf "$ROOT"
  # The trixie signing keys are in the host's debian-archive-keyring (bookworm's carries them), so the
  # Release file is checked as usual.
  debootstrap --foreign --arch=riscv64 --variant=minbase --include="$PACKAGES" \
    --keyring=/usr/share/keyrings/debian-archive-keyring.gpg "$SUITE" "$ROOT" "$MIRROR"
  touch "$CACHE/stage1.done"
fi

[ -f "$CACHE/id_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -C bonsai-compat -f "$CACHE/id_ed25519"
install -d -m 700 "$ROOT/root/.ssh"
install -m 600 "$CACHE/id_ed25519.pub" "$ROOT/root/.ssh/authorized_keys"
install -m 755 "$HERE/stage2" "$ROOT/bonsai-stage2"

echo "== the disk: ${SIZE_MIB} MiB, partition 1 = ext4 from the folder (mke2fs -d)"
truncate -s "${SIZE_MIB}M" "$IMG"
printf 'label: dos\nstart=%d, type=83, bootable\n' "$PART_START" | sfdisk -q "$IMG"
PART_BYTES=$(( SIZE_MIB * 1024 * 1024 - PART_START * 512 ))
mke2fs -q -t ext4 -L debian-root -E offset=$(( PART_START * 512 )) -d "$ROOT" "$IMG" "$(( PART_BYTES / 1024 ))k"

echo "== stage 2: debootstrap --second-stage in QEMU (log: $CACHE/build-stage2.log)"
KERNEL=$REPO/images/Image.gz
zcat "$KERNEL" > "$CACHE/stage2-Image"
# cache=unsafe: dpkg syncs after every package, and a half-built image is thrown away anyway.
timeout 3600 qemu-system-riscv64 -M virt -smp 1 -m 2G -nographic -no-reboot \
  -bios default -kernel "$CACHE/stage2-Image" \
  -append "root=/dev/vda1 rw console=ttyS0 init=/bonsai-stage2 panic=1" \
  -drive "file=$IMG,format=raw,if=none,id=hd0,cache=unsafe" -device virtio-blk-device,drive=hd0 \
  -netdev user,id=n0 -device virtio-net-device,netdev=n0 \
  </dev/null > "$CACHE/build-stage2.log" 2>&1 || true
rm -f "$CACHE/stage2-Image"
grep -q BONSAI-STAGE2-OK "$CACHE/build-stage2.log" || { echo "build.sh: stage 2 failed; see $CACHE/build-stage2.log" >&2; tail -30 "$CACHE/build-stage2.log" >&2; exit 1; }

FS="$IMG?offset=$(( PART_START * 512 ))"
# debugfs must not write to a file system whose journal the kernel would replay over its changes.
e2fsck -fn "$FS" >/dev/null 2>&1 || { echo "build.sh: the root file system is not clean after stage 2" >&2; exit 1; }
debugfs -w -R 'rm /bonsai-stage2' "$FS" 2>/dev/null

echo "== the kernel and initramfs for direct kernel boot"
VMLINUX=$(debugfs -R 'ls -p /boot' "$FS" 2>/dev/null | tr '/' '\n' | grep -E '^vmlinu[xz]-' | sort -V | tail -1)
INITRD=$(debugfs -R 'ls -p /boot' "$FS" 2>/dev/null | tr '/' '\n' | grep -E '^initrd\.img-' | sort -V | tail -1)
[ -n "$VMLINUX" ] && [ -n "$INITRD" ] || { echo "build.sh: no kernel or initramfs in /boot of the image" >&2; exit 1; }
debugfs -R "dump /boot/$VMLINUX $CACHE/vmlinux" "$FS" 2>/dev/null
debugfs -R "dump /boot/$INITRD $CACHE/initrd.img" "$FS" 2>/dev/null
echo "$VMLINUX $INITRD" > "$CACHE/kernel-version"
rm -rf "$ROOT" "$CACHE/stage1.done"
mv "$IMG" "$CACHE/debian.img"
echo "build.sh: $CACHE/debian.img ($VMLINUX, $INITRD)"
