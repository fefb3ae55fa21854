#!/bin/sh
# The cgroup v2 tests in a virtual machine with cgroup2 at /sys/fs/cgroup:
# scripts/test-cgroup2-vm boots Debian's kernel under qemu and prints one
# TAP stream, passed through here.  Skips without root, and when qemu or
# the kernel package cannot be had (the script says why).
if [ "$(id -u)" != 0 ]; then
    echo "1..0 # SKIP needs root to install qemu and build the initramfs"
    exit 0
fi
srcdir=${CRISP_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
exec "$srcdir/scripts/test-cgroup2-vm" "${CRISP_BUILDDIR:-$srcdir/build}"
