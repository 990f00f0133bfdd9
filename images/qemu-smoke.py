#!/usr/bin/env python3
"""Boots the bundled guest under QEMU (the reference for Bonsai) and drives its console.

    python3 images/qemu-smoke.py [--devices] [--console ttyS0|hvc0] [--qemu-arg ARG ...]

Checks: a root shell prompt appears, `echo hello` works, Ctrl-C reaches a foreground
command, job control works, and `poweroff` ends QEMU. With --devices it also attaches
every virtio-mmio device Bonsai offers (blk, net, console, rng, 9p) and exercises each
from the guest. Prints the boot-to-prompt time. Needs qemu-system-riscv64 and Debian's
opensbi (QEMU's `-bios default`). Exits non-zero on the first failed check.
"""
import argparse
import gzip
import os
import re
import select
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
# ash follows its prompt with ESC[6n, asking the terminal where the cursor is (to learn the
# width); a pipe never answers, and ash goes on without it.
PROMPT = re.compile(rb"bonsai:[^\r\n]*# (?:\x1b\[6n)?$")


class Console:
    def __init__(self, argv, log):
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, bufsize=0)
        self.buf = b""
        self.log = log
        self.t0 = time.monotonic()

    def _pump(self, timeout):
        r, _, _ = select.select([self.proc.stdout], [], [], timeout)
        if not r:
            return True
        data = os.read(self.proc.stdout.fileno(), 65536)
        if not data:
            return False
        self.log.write(data)
        self.log.flush()
        self.buf += data
        return True

    def expect(self, pattern, timeout, what):
        """Waits for pattern (bytes regex) in the output since the last match."""
        rx = re.compile(pattern) if isinstance(pattern, bytes) else pattern
        deadline = time.monotonic() + timeout
        while True:
            m = rx.search(self.buf)
            if m:
                self.buf = self.buf[m.end():]
                return m
            left = deadline - time.monotonic()
            if left <= 0 or not self._pump(min(left, 0.5)):
                if self.proc.poll() is not None and left > 0:
                    fail(f"QEMU exited ({self.proc.returncode}) while waiting for {what}")
                if left <= 0:
                    fail(f"timed out after {timeout}s waiting for {what}")

    def send(self, text):
        self.proc.stdin.write(text.encode() if isinstance(text, str) else text)
        self.proc.stdin.flush()

    def run(self, cmd, timeout=30):
        """Types cmd, waits for it and the next prompt, returns what it printed.

        The output is found between two markers that printf writes and the echo of the
        typed line cannot contain, so line-editing redraws of long commands do not matter.
        """
        self.buf = b""
        self.send(f"printf '@@%s@@\\n' B; {cmd}; printf '@@%s@@\\n' E\n")
        m = self.expect(rb"(?s)@@B@@\r*\n(.*?)@@E@@\r*\n", timeout, f"the end of `{cmd}`")
        self.expect(PROMPT, timeout, f"the prompt after `{cmd}`")
        return re.sub(rb"\r+\n", b"\n", m.group(1)).decode(errors="replace")

    def elapsed(self):
        return time.monotonic() - self.t0


class Failed(Exception):
    pass


def fail(msg):
    raise Failed(msg)


def check(cond, msg):
    if not cond:
        fail(msg)
    print(f"ok: {msg}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kernel", help="uncompressed Image (default: images/Image.gz, unpacked)")
    ap.add_argument("--initrd", default=os.path.join(HERE, "initramfs.cpio.gz"))
    ap.add_argument("--console", default="ttyS0", choices=["ttyS0", "hvc0"])
    ap.add_argument("--append", default="", help="extra kernel command line")
    ap.add_argument("--devices", action="store_true", help="attach and test the virtio devices")
    ap.add_argument("--memory", default="256M")
    ap.add_argument("--timeout", type=float, default=300, help="seconds allowed for boot")
    ap.add_argument("--log", default=None, help="file for the raw console output")
    ap.add_argument("--qemu-arg", action="append", default=[])
    args = ap.parse_args()

    tmp = tempfile.mkdtemp(prefix="bonsai-smoke-")
    try:
        kernel = args.kernel
        if not kernel:
            kernel = os.path.join(tmp, "Image")
            with gzip.open(os.path.join(HERE, "Image.gz")) as src, open(kernel, "wb") as dst:
                shutil.copyfileobj(src, dst)
        append = f"console={args.console} {args.append}".strip()
        argv = ["qemu-system-riscv64", "-M", "virt", "-m", args.memory, "-nographic",
                "-bios", "default", "-kernel", kernel, "-initrd", args.initrd, "-append", append]
        if args.devices:
            disk = os.path.join(tmp, "disk.img")
            with open(disk, "wb") as f:
                f.truncate(32 << 20)
            share = os.path.join(tmp, "share")
            os.mkdir(share)
            with open(os.path.join(share, "from-host.txt"), "w") as f:
                f.write("hello from the host\n")
            argv += [
                "-drive", f"file={disk},if=none,format=raw,id=d0",
                "-device", "virtio-blk-device,drive=d0",
                # restrict=on: the guest reaches QEMU's built-in DHCP server and nothing else.
                "-netdev", "user,id=n0,restrict=on",
                "-device", "virtio-net-device,netdev=n0",
                "-device", "virtio-rng-device",
                "-fsdev", f"local,id=fs0,path={share},security_model=none",
                "-device", "virtio-9p-device,fsdev=fs0,mount_tag=host",
                "-device", "virtio-serial-device",
                "-chardev", f"file,id=vc0,path={os.path.join(tmp, 'virtcon.out')}",
                "-device", "virtconsole,chardev=vc0",
            ]
        argv += args.qemu_arg
        print("$ " + " ".join(argv))
        log = open(args.log, "wb") if args.log else open(os.devnull, "wb")
        con = Console(argv, log)
        try:
            drive(con, args, tmp, share if args.devices else None, log)
        finally:
            if con.proc.poll() is None:
                con.proc.kill()
                con.proc.wait()
    except Failed as e:
        print(f"FAIL: {e}", file=sys.stderr)
        sys.exit(1)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def drive(con, args, tmp, share, log):
    con.expect(rb"Linux version [^\r\n]*", args.timeout, "the kernel banner")
    t_kernel = con.elapsed()
    con.expect(rb"Run /init as init process", args.timeout, "the kernel to start /init")
    t_init = con.elapsed()
    con.expect(PROMPT, args.timeout, "the shell prompt")
    t_prompt = con.elapsed()
    print(f"boot: kernel banner {t_kernel:.2f}s, /init {t_init:.2f}s, shell prompt {t_prompt:.2f}s")

    check(con.run("echo hello").strip() == "hello", "echo hello")
    check(re.search(r"monitor\s+on", con.run("set -o | grep monitor")) is not None,
          "the shell has job control (set -o monitor)")
    out = con.run("uname -a")
    check("riscv64" in out, f"uname: {out.strip()}")
    check("hello" in con.run("sh -c 'echo hello' | cat"), "pipes and subshells")

    # Ctrl-C reaches the foreground command and the shell survives it.
    con.buf = b""
    con.send("sleep 60; echo sleep-finished\n")
    time.sleep(1.0)
    con.send(b"\x03")
    con.expect(PROMPT, 10, "the prompt after Ctrl-C")
    check(b"sleep-finished" not in con.buf, "Ctrl-C interrupts a foreground sleep")
    con.run("sleep 100 & true")
    out = con.run("jobs")
    check("sleep 100" in out, "a background job shows in `jobs`")
    con.run("kill %1; wait %1")
    check(con.run("jobs").strip() == "", "`kill %1` ends it")
    out = con.run("cat /proc/mounts")
    for fs in ("devtmpfs", "proc", "sysfs", "tmpfs", "devpts"):
        check(fs in out, f"{fs} is mounted")
    out = con.run("date +%Y")
    check(int(out.strip()) >= 2024, f"the RTC set the clock (year {out.strip()})")
    check("bonsai" in con.run("hostname"), "hostname")
    out = con.run("ping -c 1 -W 5 localhost")
    check("1 packets received" in out, "ping localhost (static glibc reads /etc/hosts; IPv4 loopback)")

    if args.devices:
        out = con.run("mkfs.ext2 -q /dev/vda && mount /dev/vda /mnt && echo disk >/mnt/f && "
                      "umount /mnt && mount /dev/vda /mnt && cat /mnt/f && umount /mnt", 120)
        check("disk" in out.split(), "virtio-blk: mkfs.ext2, mount, write, read back")
        out = con.run("mount -t ext4 /dev/vda /mnt && echo ext4-ok; umount /mnt", 60)
        check("ext4-ok" in out, "the ext4 driver mounts the ext2 filesystem")
        out = con.run("udhcpc -i eth0 -n -q -t 5 && ip -4 addr show eth0", 60)
        check("inet 10.0.2.15" in out, "virtio-net: udhcpc got a lease")
        check("has-ipv6" in con.run("ip -6 addr show lo | grep -q ::1 && echo has-ipv6"),
              "IPv6 on loopback")
        out = con.run("cat /sys/class/misc/hw_random/rng_current; "
                      "dd if=/dev/hwrng bs=16 count=1 2>/dev/null | wc -c")
        check("virtio_rng" in out and "16" in out.split(), "virtio-rng feeds /dev/hwrng")
        # /init mounts every 9p share at /mnt/TAG (a virtio 9p channel takes one mount).
        out = con.run("cat /mnt/host/from-host.txt && echo back >/mnt/host/from-guest.txt && sync")
        check("hello from the host" in out, "virtio-9p: read a host file")
        # hvc0 is the SBI console (HVC_RISCV_SBI registers first); the virtio console is hvc1.
        out = con.run("echo on-sbi-console >/dev/hvc0")
        check("on-sbi-console" in out, "SBI console: /dev/hvc0 reaches the serial output")
        out = con.run("echo on-virtconsole >/dev/hvc1 && echo written")
        check("written" in out, "virtio-console: /dev/hvc1 takes writes")

    # `reboot` goes through busybox init's shutdown and resets the board; the kernel boots again.
    con.buf = b""
    con.send("reboot\n")
    con.expect(rb"Linux version", 60, "the kernel banner after `reboot`")
    con.expect(PROMPT, args.timeout, "the shell prompt after `reboot`")
    check(con.run("echo again").strip() == "again", "`reboot` restarts the guest")

    con.buf = b""
    t_off = time.monotonic()
    con.send("poweroff\n")
    try:
        con.proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        fail("QEMU still running 60s after `poweroff`")
    log.write(con.proc.stdout.read())
    check(con.proc.returncode == 0, f"`poweroff` ended QEMU (exit {con.proc.returncode}) "
                                     f"in {time.monotonic() - t_off:.1f}s")
    if args.devices:
        with open(os.path.join(share, "from-guest.txt")) as f:
            check(f.read() == "back\n", "virtio-9p: the guest's write reached the host")
        with open(os.path.join(tmp, "virtcon.out"), "rb") as f:
            check(b"on-virtconsole" in f.read(), "virtio-console: the host saw the guest's write")
    print(f"PASS: shell prompt {t_prompt:.2f}s after QEMU started")


if __name__ == "__main__":
    main()
