#!/usr/bin/python3
"""crispd's pid runs the small crisp-keeper program, which restarts the reactor and forwards stops."""

import os
import signal
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))

import tap  # noqa: E402
from daemon import Crispd, wait_for  # noqa: E402

# Libraries of the reactor that the keeper must not map (its only job is to wait).
REACTOR_LIBRARIES = ("libcurl", "libarchive", "libevent", "libnghttp2", "libprotobuf-c",
                     "libcrypto", "libssl", "libjansson", "libseccomp", "libcap")


def comm(pid):
    with open(f"/proc/{pid}/comm") as f:
        return f.read().strip()


def cmdline(pid):
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        return [arg.decode() for arg in f.read().split(b"\0")[:-1]]


def children(pid):
    with open(f"/proc/{pid}/task/{pid}/children") as f:
        return [int(p) for p in f.read().split()]


def mapped_libraries(pid):
    """Base names of the shared objects mapped by pid."""
    names = set()
    with open(f"/proc/{pid}/maps") as f:
        for line in f:
            fields = line.split()
            if len(fields) >= 6 and ".so" in fields[5]:
                names.add(os.path.basename(fields[5]))
    return sorted(names)


def nolibc_keeper():
    """Whether this build's crisp-keeper is src/keeper-nolibc.c: a static ELF without PT_INTERP."""
    with open(os.path.join(os.environ["CRISP_BUILDDIR"], "crisp-keeper"), "rb") as f:
        elf = f.read(1 << 16)
    # 64-bit little-endian ELF header: e_phoff at 32, e_phentsize and e_phnum at 54 and 56.
    phoff = int.from_bytes(elf[32:40], "little")
    phentsize = int.from_bytes(elf[54:56], "little")
    phnum = int.from_bytes(elf[56:58], "little")
    types = [int.from_bytes(elf[phoff + i * phentsize:phoff + i * phentsize + 4], "little")
             for i in range(phnum)]
    return 3 not in types  # PT_INTERP


def body():
    with Crispd(extra_args=["--restart-delay", "200"]) as d:
        tap.is_(comm(d.pid), "crisp-keeper", "crispd's pid runs crisp-keeper")
        libraries = mapped_libraries(d.pid)
        tap.is_([name for name in libraries if name.startswith(REACTOR_LIBRARIES)], [],
                f"the keeper maps none of the reactor's libraries ({', '.join(libraries)})")
        if nolibc_keeper():
            tap.is_(libraries, [], "the keeper built without libc maps no shared object")
        else:
            tap.ok("libc.so.6" in libraries, "the keeper maps libc")

        reactors = children(d.pid)
        tap.is_(len(reactors), 1, "the keeper has one child")
        first = reactors[0]
        tap.is_(comm(first), "crispd", "the child is the crispd reactor")
        tap.is_(cmdline(first), d.args, "the first reactor is crispd's fork, with its arguments")

        os.kill(first, signal.SIGKILL)
        second = wait_for(lambda: [p for p in children(d.pid) if p != first
                                   and comm(p) == "crispd"])
        tap.ok(second, "the keeper restarts the reactor")
        if second:
            tap.is_(cmdline(second[0]), [d.args[0], "--reactor-process"] + d.args[1:],
                    "the restarted reactor is crispd with --reactor-process")
        c = d.client()
        tap.ok(wait_for(lambda: c.call("Version", rpc_timeout=2)), "the new reactor serves CRI")
        c.close()
        tap.is_(comm(d.pid), "crisp-keeper", "the keeper keeps its pid and program")
        tap.is_(d.stop(), 0, "SIGTERM stops the keeper and the reactor with status 0")

    with Crispd(extra_args=["--restart-delay", "60000"]) as d:
        reactor = children(d.pid)[0]
        os.kill(reactor, signal.SIGKILL)
        tap.ok(wait_for(lambda: children(d.pid) == []), "the killed reactor is reaped")
        started = time.monotonic()
        tap.is_(d.stop(), 0, "SIGTERM during the restart delay exits with status 0")
        tap.ok(time.monotonic() - started < 5, "without waiting for the restart delay")

    # SIGKILL of the keeper: the reactor stops too, instead of serving on without a keeper.
    d = Crispd()
    reactor = children(d.pid)[0]
    os.kill(d.pid, signal.SIGKILL)
    d.proc.wait()
    tap.ok(wait_for(lambda: not os.path.exists(f"/proc/{reactor}")
                    or open(f"/proc/{reactor}/stat").read().split(")")[-1].split()[0] == "Z"),
           "the reactor ends when its keeper is killed")
    tap.ok(not os.path.exists(d.socket), "and removes its socket")
    d.remove_tmpdir()


tap.run(body)
