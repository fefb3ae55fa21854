#!/usr/bin/python3
"""CRI log files: long lines, partial lines, volume, rotation and reopening."""

import os
import shutil
import re
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))

import cri  # noqa: E402
import images  # noqa: E402
import tap  # noqa: E402
from daemon import Crispd  # noqa: E402
from registry import Registry  # noqa: E402

LOG_LINE = re.compile(rb"^(\S+) (stdout|stderr) ([FP]) (.*)$", re.S)
EXITED = 2


def records(path):
    """Parse a CRI log file into (stream, tag, content bytes) tuples."""
    out = []
    with open(path, "rb") as f:
        for line in f:
            m = LOG_LINE.match(line[:-1] if line.endswith(b"\n") else line)
            out.append((m.group(2).decode(), m.group(3).decode(), m.group(4)) if m else None)
    return out


def joined(recs, stream="stdout"):
    """Rejoin records the way a CRI log reader does: P parts continue, F ends a line."""
    data = b""
    for r in recs:
        if r and r[0] == stream:
            data += r[2] + (b"\n" if r[1] == "F" else b"")
    return data


def wait_exit(c, ctr, limit=600):
    for _ in range(limit):
        st = c.call("ContainerStatus", container_id=ctr).status
        if st.state == EXITED:
            return st
        time.sleep(0.1)
    return st


def body():
    logdir = tempfile.mkdtemp(prefix="crisp-logs-")
    with Registry() as reg:
        images.busybox_image(reg, "busybox", "latest")
        image = f"{reg.host}/busybox"
        with Crispd(registries=[reg]) as d, d.client() as c:
            c.call("PullImage", image=c.msg("ImageSpec", image=image), rpc_timeout=120)
            pod_cfg = c.msg("PodSandboxConfig",
                            metadata=c.msg("PodSandboxMetadata", name="logs", namespace="ns", uid="u"),
                            log_directory=logdir)
            pod = c.call("RunPodSandbox", config=pod_cfg).pod_sandbox_id

            def create(name, script):
                cfg = c.msg("ContainerConfig", metadata=c.msg("ContainerMetadata", name=name),
                            image=c.msg("ImageSpec", image=image), command=["sh", "-c", script],
                            log_path=f"{name}/0.log")
                return c.call("CreateContainer", pod_sandbox_id=pod, config=cfg,
                              sandbox_config=pod_cfg).container_id

            def run(name, script):
                ctr = create(name, script)
                c.call("StartContainer", container_id=ctr)
                st = wait_exit(c, ctr)
                tap.is_(st.exit_code, 0, f"{name}: exits 0")
                return ctr, records(st.log_path)

            # A 100 KiB line: P parts of 16 KiB, then an F part; they rejoin byte for byte.
            _, recs = run("long", "head -c 102400 /dev/zero | tr '\\0' x; echo")
            tags = [r[1] for r in recs]
            tap.is_(tags, ["P"] * 6 + ["F"], "a 100 KiB line is six P parts and an F part")
            tap.is_([len(r[2]) for r in recs], [16384] * 6 + [4096], "parts are 16 KiB")
            tap.is_(joined(recs), b"x" * 102400 + b"\n", "the parts rejoin to the line")

            # Output without a final newline is a P record, and nothing is added to it.
            _, recs = run("partial", "printf 'first\\nno newline'")
            tap.is_(recs, [("stdout", "F", b"first"), ("stdout", "P", b"no newline")],
                    "a last line without newline is a P record")
            tap.is_(joined(recs), b"first\nno newline", "joined records are exactly what was written")

            # 10^5 lines as fast as the container writes them: every one arrives once, in order.
            _, recs = run("many", "seq 1 100000")
            lines = [r[2] for r in recs if r and r[1] == "F"]
            tap.is_(len(lines), 100000, "100000 lines are logged")
            tap.ok(lines == [str(i).encode() for i in range(1, 100001)], "in order, none lost or repeated")

            # Rotation: kubelet renames the file, then asks for a new one.
            ctr = create("rotate", "i=0; while [ $i -lt 400 ]; do echo line$i; i=$((i+1)); "
                         "sleep 0.005; done")
            c.call("StartContainer", container_id=ctr)
            path = os.path.join(logdir, "rotate/0.log")
            time.sleep(0.5)
            os.rename(path, path + ".1")
            c.call("ReopenContainerLog", container_id=ctr)
            time.sleep(0.5)
            # And a removal behind crisp's back: crisp notices and opens a new file.
            os.rename(path, path + ".2")
            os.unlink(path + ".2")
            st = wait_exit(c, ctr)
            tap.is_(st.exit_code, 0, "rotating container exits 0")
            first = [r[2] for r in records(path + ".1")]
            last = [r[2] for r in records(path)]
            tap.ok(len(first) > 0, "the renamed file holds the lines before the rotation")
            tap.ok(len(last) > 0, "a new file was opened after the removal")
            tap.is_(first[:len(first)], [f"line{i}".encode() for i in range(len(first))],
                    "the rotated file starts at line0 with no gap")
            tap.is_(last[-1], b"line399", "the last line is in the new file")
            details = cri.expect_error(c.call, "FAILED_PRECONDITION", "ReopenContainerLog",
                                       container_id=ctr)
            tap.like(details, "not running", "ReopenContainerLog of an exited container fails")
            cri.expect_error(c.call, "NOT_FOUND", "ReopenContainerLog", container_id="ef" * 32)

            # Both streams, in the order written.
            _, recs = run("streams", "echo a; sleep 0.05; echo b >&2; sleep 0.05; echo c")
            tap.is_(recs, [("stdout", "F", b"a"), ("stderr", "F", b"b"), ("stdout", "F", b"c")],
                    "stdout and stderr records keep their order")

            c.call("RemovePodSandbox", pod_sandbox_id=pod)

    shutil.rmtree(logdir)


tap.run(body)
