#!/usr/bin/env bash
# Rebuilds the bundled Bonsai guest from Debian sources:
#   images/Image.gz            Linux 6.1 (Debian linux-source-6.1), config images/linux.config
#   images/initramfs.cpio.gz   static riscv64 busybox (Debian's busybox source), config
#                              images/busybox.config; static riscv64 dropbear (Debian's dropbear
#                              source), options images/dropbear-localoptions.h; plus images/init,
#                              images/stage2 and images/agent (in /lib/bonsai) and images/rootfs/
#   images/BUILD-INFO          versions and checksums of what was built
#
# Usage: images/build.sh [--no-apt] [--kernel-only|--initramfs-only]
#   --no-apt          do not install packages or add the deb-src entry (they are already there)
# Environment:
#   WORK=/tmp/bonsai-images   build tree (sources are unpacked and built here, never in the repo)
#   JOBS=$(nproc)             parallel make jobs
#
# Needs root (or sudo) for apt-get. Takes about 7 minutes on 2 cores, most of it the kernel.
set -euo pipefail

IMAGES=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
WORK=${WORK:-/tmp/bonsai-images}
JOBS=${JOBS:-$(nproc)}
ARCH=riscv
CROSS_COMPILE=riscv64-linux-gnu-
export ARCH CROSS_COMPILE
# Fixed build stamps, so that rebuilding the same sources gives the same bytes
# (uname -v, the initramfs mtimes, the gzip headers).
export KBUILD_BUILD_TIMESTAMP='2024-01-01 00:00:00 UTC'
export KBUILD_BUILD_USER=bonsai KBUILD_BUILD_HOST=bonsai KBUILD_BUILD_VERSION=1
export SOURCE_DATE_EPOCH=1704067200
export LC_ALL=C

apt=1 do_kernel=1 do_initramfs=1
for arg in "$@"; do
  case "$arg" in
    --no-apt) apt=0 ;;
    --kernel-only) do_initramfs=0 ;;
    --initramfs-only) do_kernel=0 ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    *) echo "build.sh: unknown argument $arg" >&2; exit 2 ;;
  esac
done

say() { printf '\n==> %s\n' "$*"; }
SUDO=
if [ "$(id -u)" != 0 ]; then SUDO=sudo; fi

# ---- 1. Packages ---------------------------------------------------------------------------
# Adds deb-src twins of the system's Debian deb entries, so `apt-get source busybox` (and
# dropbear) works.
add_deb_src() {
  if grep -rqsE '^(deb-src[[:space:]]|Types:.*deb-src)' /etc/apt/sources.list /etc/apt/sources.list.d/; then
    return
  fi
  say "adding a deb-src entry (/etc/apt/sources.list.d/bonsai-deb-src.*)"
  local tmp
  tmp=$(mktemp)
  if ls /etc/apt/sources.list.d/*.sources >/dev/null 2>&1; then
    # deb822 stanzas signed by Debian's archive key, with "Types: deb" turned into deb-src.
    awk 'BEGIN { RS = ""; ORS = "\n\n" }
         /(^|\n)Types:[^\n]*deb/ && /debian-archive-keyring/ {
           sub(/(^|\n)Types:[^\n]*/, "\nTypes: deb-src"); sub(/^\n/, ""); print }' \
      /etc/apt/sources.list.d/*.sources >"$tmp"
    if [ -s "$tmp" ]; then
      $SUDO install -m 644 "$tmp" /etc/apt/sources.list.d/bonsai-deb-src.sources
      rm -f "$tmp"
      return
    fi
  fi
  if [ -f /etc/apt/sources.list ]; then
    sed -n 's/^deb[[:space:]]/deb-src /p' /etc/apt/sources.list >"$tmp"
  fi
  if [ ! -s "$tmp" ]; then
    echo "build.sh: found no Debian 'deb' entry to derive a deb-src entry from" >&2
    exit 1
  fi
  $SUDO install -m 644 "$tmp" /etc/apt/sources.list.d/bonsai-deb-src.list
  rm -f "$tmp"
}

if [ "$apt" = 1 ]; then
  add_deb_src
  say "installing the toolchain and sources (apt-get)"
  $SUDO apt-get update
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
    linux-source-6.1 gcc-riscv64-linux-gnu libc6-dev-riscv64-cross binutils-riscv64-linux-gnu \
    make gcc libc6-dev bc bison flex libssl-dev libelf-dev cpio xz-utils gzip dpkg-dev perl
fi

mkdir -p "$WORK"
start=$SECONDS

# ---- 2. Kernel --------------------------------------------------------------------------------
build_kernel() {
  local tarball=/usr/src/linux-source-6.1.tar.xz
  local ksrc="$WORK/linux-source-6.1"
  local kver
  kver=$(dpkg-query -W -f='${Version}' linux-source-6.1)
  if [ ! -f "$ksrc/.bonsai-unpacked-$kver" ]; then
    say "unpacking linux-source-6.1 $kver"
    rm -rf "$ksrc"
    tar -C "$WORK" -xf "$tarball"
    touch "$ksrc/.bonsai-unpacked-$kver"
  fi
  cd "$ksrc"
  say "configuring Linux: allnoconfig + images/linux.config"
  make KCONFIG_ALLCONFIG="$IMAGES/linux.config" allnoconfig
  # Kconfig drops a requested symbol whose dependencies are unmet without a word; refuse that.
  local bad=0 line key val
  while IFS= read -r line; do
    case "$line" in CONFIG_*=*) ;; *) continue ;; esac
    key=${line%%=*} val=${line#*=}
    if [ "$val" = n ]; then
      if grep -q "^$key=" .config; then echo "linux.config: $key is on, wanted off" >&2; bad=1; fi
    elif ! grep -qxF "$line" .config; then
      echo "linux.config: wanted $line, got: $(grep -E "^(# )?$key[= ]" .config || echo nothing)" >&2
      bad=1
    fi
  done <"$IMAGES/linux.config"
  [ "$bad" = 0 ] || exit 1

  say "building Linux Image (make -j$JOBS)"
  make -j"$JOBS" Image
  gzip -9 -n -c arch/riscv/boot/Image >"$IMAGES/Image.gz.tmp"
  mv "$IMAGES/Image.gz.tmp" "$IMAGES/Image.gz"
  # The host tool that packs the initramfs below.
  gcc -O2 -o usr/gen_init_cpio usr/gen_init_cpio.c
}

# ---- 3. Dropbear (ssh server and client), one static multi-call binary ---------------------------
# Built with its bundled libtomcrypt/libtommath (part of the upstream tarball), without zlib, PAM,
# lastlog/utmp/wtmp; images/dropbear-localoptions.h compiles out password authentication.
# The unpacked Debian source of package $1 under $WORK/$1, fetched with `apt-get source` the first
# time; prints its directory.
debian_source() {
  local pkg=$1 dir
  dir=$(find "$WORK/$pkg" -maxdepth 1 -type d -name "$pkg-*" 2>/dev/null | head -n1 || true)
  if [ -z "$dir" ]; then
    say "fetching Debian's $pkg source (apt-get source)" >&2
    rm -rf "${WORK:?}/$pkg"
    mkdir -p "$WORK/$pkg"
    (cd "$WORK/$pkg" && apt-get source "$pkg" >&2)
    dir=$(find "$WORK/$pkg" -maxdepth 1 -type d -name "$pkg-*" | head -n1)
  fi
  printf '%s\n' "$dir"
}

DROPBEAR_PROGRAMS="dropbear dropbearkey dbclient scp"
build_dropbear() {
  local dbsrc
  dbsrc=$(debian_source dropbear)
  cd "$dbsrc"
  say "building dropbear ($(basename "$dbsrc")), static riscv64"
  local conf=(--host=riscv64-linux-gnu --enable-static --enable-bundled-libtom --disable-zlib
              --disable-pam --disable-lastlog --disable-utmp --disable-utmpx --disable-wtmp
              --disable-wtmpx --disable-loginfunc --disable-pututline --disable-pututxline)
  # configure takes longer than the build; run it again only when its arguments change.
  if [ ! -f Makefile ] || [ "$(cat .bonsai-configure 2>/dev/null)" != "${conf[*]}" ]; then
    ./configure "${conf[@]}" >configure.out
    echo "${conf[*]}" >.bonsai-configure
  fi
  # Copied only when changed, so that an unchanged file does not rebuild everything.
  cmp -s "$IMAGES/dropbear-localoptions.h" localoptions.h ||
    cp "$IMAGES/dropbear-localoptions.h" localoptions.h
  # -Os (configure's choice) everywhere but curve25519.c, the X25519 and Ed25519 arithmetic
  # that every ssh connection and the boot-time host key spend most of their instructions in:
  # at -O3 an ed25519 key takes 16.7 million riscv64 instructions instead of 22.8, for 8 KB
  # more of gzipped initramfs. Rebuilt every time, so that the flags always apply.
  rm -f curve25519.o
  make -f Makefile -f <(printf 'curve25519.o: CFLAGS += -O3\n') -j"$JOBS" \
    PROGRAMS="$DROPBEAR_PROGRAMS" MULTI=1 dropbearmulti
  if ${CROSS_COMPILE}readelf -l dropbearmulti | grep -q 'program interpreter'; then
    echo "build.sh: dropbear is not statically linked" >&2; exit 1
  fi
  DROPBEAR_VERSION=$(dpkg-parsechangelog -l debian/changelog -S Version 2>/dev/null || basename "$dbsrc")
}

# Installs the multi-call binary as /usr/bin/dropbearmulti with a link for each program (and
# ssh, which dropbear's multi-call binary answers as dbclient).
install_dropbear() {
  local root=$1 dbsrc prog
  dbsrc=$(find "$WORK/dropbear" -maxdepth 1 -type d -name 'dropbear-*' | head -n1)
  mkdir -p "$root/usr/bin" "$root/usr/sbin"
  ${CROSS_COMPILE}strip -o "$root/usr/bin/dropbearmulti" "$dbsrc/dropbearmulti"
  chmod 755 "$root/usr/bin/dropbearmulti"
  ln -sfn ../bin/dropbearmulti "$root/usr/sbin/dropbear"
  for prog in dropbearkey dbclient scp ssh; do
    ln -sfn dropbearmulti "$root/usr/bin/$prog"
  done
}

# ---- 4. Busybox and the initramfs ----------------------------------------------------------------
build_initramfs() {
  local ksrc="$WORK/linux-source-6.1"
  if [ ! -x "$ksrc/usr/gen_init_cpio" ]; then
    [ -d "$ksrc" ] || tar -C "$WORK" -xf /usr/src/linux-source-6.1.tar.xz
    gcc -O2 -o "$ksrc/usr/gen_init_cpio" "$ksrc/usr/gen_init_cpio.c"
  fi

  local bbsrc
  bbsrc=$(debian_source busybox)
  cd "$bbsrc"
  say "building busybox ($(basename "$bbsrc")), static riscv64"
  cp "$IMAGES/busybox.config" .config
  { yes "" || true; } | make oldconfig >/dev/null
  if ! diff -q <(grep '^CONFIG_' "$IMAGES/busybox.config") <(grep '^CONFIG_' .config) >/dev/null; then
    echo "build.sh: busybox.config is not complete for this busybox; differences:" >&2
    diff <(grep '^CONFIG_' "$IMAGES/busybox.config") <(grep '^CONFIG_' .config) >&2 || true
    exit 1
  fi
  # The version banner's build date (AUTOCONF_TIMESTAMP) is not tracked by busybox's make.
  rm -f libbb/messages.o
  make -j"$JOBS" busybox
  if ${CROSS_COMPILE}readelf -l busybox | grep -q 'program interpreter'; then
    echo "build.sh: busybox is not statically linked" >&2; exit 1
  fi

  build_dropbear

  say "assembling the root filesystem"
  local root="$WORK/rootfs"
  rm -rf "$root"
  mkdir -p "$root"
  (cd "$bbsrc" && make CONFIG_PREFIX="$root" install >/dev/null)
  install_dropbear "$root"
  # etc/bonsai: where the host's configuration archive puts its files (see images/init);
  # it exists here so that the archive needs no directory entries of its own.
  (cd "$root" && mkdir -p dev proc sys tmp run root mnt etc/udhcpc etc/bonsai etc/dropbear \
     var/log && ln -sfn /run var/run && chmod 755 etc/bonsai etc/dropbear)
  chmod 1777 "$root/tmp"
  chmod 700 "$root/root"
  cp -R "$IMAGES/rootfs/." "$root/"
  install -m 755 "$IMAGES/init" "$root/init"
  mkdir -p "$root/lib/bonsai"
  install -m 755 "$IMAGES/stage2" "$root/lib/bonsai/stage2"
  install -m 755 "$IMAGES/agent" "$root/lib/bonsai/agent"
  # rootfs/etc/udhcpc/default.script is CONFIG_UDHCPC_DEFAULT_SCRIPT (one lease per ethN).
  chmod 755 "$root/etc/udhcpc/default.script" "$root/etc/init.d/dropbear"
  # gen_init_cpio stamps directories, links and nodes with KBUILD_BUILD_TIMESTAMP but
  # regular files with their own mtime.
  # What /init compares to learn whether a disk root's system files are this initramfs's: a
  # digest of every file in it.
  (cd "$root" && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum | sha256sum | cut -c1-64) \
    >"$WORK/build-id"
  mv "$WORK/build-id" "$root/lib/bonsai/build-id"
  find "$root" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
  # The kernel opens /dev/console for PID 1 before /init can mount devtmpfs.
  cat >"$WORK/initramfs-nodes.list" <<'EOF'
nod /dev/console 0600 0 0 c 5 1
nod /dev/null 0666 0 0 c 1 3
EOF
  say "packing the initramfs (cpio newc, gzip -9)"
  # All files owned by root whatever the builder's uid; mtimes from KBUILD_BUILD_TIMESTAMP.
  (cd "$ksrc" && sh usr/gen_initramfs.sh -o "$WORK/initramfs.cpio" -u squash -g squash \
     "$root" "$WORK/initramfs-nodes.list")
  gzip -9 -n -c "$WORK/initramfs.cpio" >"$IMAGES/initramfs.cpio.gz.tmp"
  mv "$IMAGES/initramfs.cpio.gz.tmp" "$IMAGES/initramfs.cpio.gz"
  BUSYBOX_VERSION=$(dpkg-parsechangelog -l "$bbsrc/debian/changelog" -S Version 2>/dev/null || basename "$bbsrc")
}

BUSYBOX_VERSION= DROPBEAR_VERSION=
if [ "$do_kernel" = 1 ]; then build_kernel; fi
if [ "$do_initramfs" = 1 ]; then build_initramfs; fi

# ---- 5. Record what was built --------------------------------------------------------------------
cd "$IMAGES"
{
  echo "# Written by images/build.sh; do not edit."
  # The kernel's source version only when the kernel was built now.
  if [ "$do_kernel" = 1 ]; then echo "linux-source-6.1  $(dpkg-query -W -f='${Version}' linux-source-6.1)"
  else grep '^linux-source-6.1 ' BUILD-INFO 2>/dev/null || true; fi
  if [ -n "$BUSYBOX_VERSION" ]; then echo "busybox           $BUSYBOX_VERSION"
  else grep '^busybox ' BUILD-INFO 2>/dev/null || true; fi
  if [ -n "$DROPBEAR_VERSION" ]; then echo "dropbear          $DROPBEAR_VERSION"
  else grep '^dropbear ' BUILD-INFO 2>/dev/null || true; fi
  echo "gcc               $(${CROSS_COMPILE}gcc -dumpfullversion) ($(dpkg-query -W -f='${Version}' gcc-riscv64-linux-gnu 2>/dev/null || echo '?'))"
  echo "binutils          $(${CROSS_COMPILE}ld --version | head -n1 | awk '{print $NF}')"
  echo "glibc (static)    $(dpkg-query -W -f='${Version}' libc6-dev-riscv64-cross 2>/dev/null || echo '?')"
  echo
  sha256sum Image.gz initramfs.cpio.gz
} >BUILD-INFO.tmp
mv BUILD-INFO.tmp BUILD-INFO
say "done in $((SECONDS - start)) s"
ls -l "$IMAGES/Image.gz" "$IMAGES/initramfs.cpio.gz"
cat "$IMAGES/BUILD-INFO"
