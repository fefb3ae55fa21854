#!/usr/bin/python3
"""crisp-pause on its own: version, the signals that stop it, zombie reaping as PID 1."""

import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))

import tap  # noqa: E402
from daemon import daemon_binary  # noqa: E402

PAUSE = os.path.join(os.path.dirname(daemon_binary()), "crisp-pause")


def package_version():
    """PACKAGE_VERSION from the build's config.h."""
    with open(os.path.join(os.path.dirname(PAUSE), "config.h")) as f:
        for line in f:
            if line.startswith("#define PACKAGE_VERSION "):
                return line.split('"')[1]
    return None


VERSION = package_version()


def children(pid):
    with open(f"/proc/{pid}/task/{pid}/children") as f:
        return f.read().split()


def mapped_files(pid):
    """Paths of the files pid maps, without the kernel's [vdso]-style entries."""
    with open(f"/proc/{pid}/maps") as f:
        fields = [line.split() for line in f]
    return sorted({f[5] for f in fields if len(f) >= 6 and not f[5].startswith("[")})


def pid1_child(outer):
    """The process that unshare(1) forked into the new PID namespace."""
    for _ in range(100):
        found = children(outer)
        if found:
            return int(found[0])
        time.sleep(0.02)
    return None


def body():
    for flag in ("--version", "-v"):
        out = subprocess.run([PAUSE, flag], capture_output=True, text=True, timeout=10)
        tap.is_((out.returncode, out.stdout, out.stderr), (0, f"crisp-pause {VERSION}\n", ""),
                f"crisp-pause {flag} prints the version")

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        p = subprocess.Popen([PAUSE])
        time.sleep(0.1)
        os.kill(p.pid, signal.SIGCHLD)
        time.sleep(0.05)
        tap.is_(p.poll(), None, f"SIGCHLD does not stop crisp-pause (before {sig.name})")
        os.kill(p.pid, sig)
        tap.is_(p.wait(timeout=5), 0, f"{sig.name} stops crisp-pause with status 0")

    p = subprocess.Popen([PAUSE])
    time.sleep(0.1)
    files = mapped_files(p.pid)
    os.kill(p.pid, signal.SIGTERM)
    p.wait(timeout=5)
    with open(PAUSE, "rb") as f:
        dynamic = b"/ld-linux" in f.read()  # the PT_INTERP path of a dynamic executable
    if dynamic:
        tap.skip("crisp-pause maps no shared object", "this build links crisp-pause with libc")
    else:
        tap.is_(files, [os.path.realpath(PAUSE)], "crisp-pause maps no shared object")

    # As PID 1 of a new PID namespace, crisp-pause adopts the shell's children and reaps them.
    p = subprocess.Popen(["unshare", "--pid", "--fork", "--kill-child", "sh", "-c",
                          f"sleep 0.2 & sleep 0.1 & exec {PAUSE}"])
    inner = pid1_child(p.pid)
    tap.ok(inner is not None, "unshare started the namespace's PID 1")
    time.sleep(0.05)
    with open(f"/proc/{inner}/status") as f:
        nspid = [line.split()[1:] for line in f if line.startswith("NSpid:")][0]
    tap.is_(nspid[-1], "1", "crisp-pause is PID 1 in its namespace")
    tap.is_(len(children(inner)), 2, "it has the two sleep processes as children")
    time.sleep(0.8)
    tap.is_(children(inner), [], "it reaped both after they exited")
    os.kill(inner, signal.SIGTERM)
    tap.is_(p.wait(timeout=5), 0, "SIGTERM stops PID 1 and the namespace with status 0")


tap.run(body)
