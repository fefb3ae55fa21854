#!/usr/bin/python3
"""A crash of the reactor in the middle of a pull: no partial image, and the next pull completes."""

import os
import signal
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))

import cri  # noqa: E402
import images  # noqa: E402
import tap  # noqa: E402
from daemon import Crispd, reactor_pid, wait_for  # noqa: E402
from standin import StandIn  # noqa: E402


def stray_files(root):
    """Ingest files and temporary snapshots left in the image store."""
    ingest = os.listdir(os.path.join(root, "images", "content", "ingest"))
    snapshots = [n for n in os.listdir(os.path.join(root, "images", "snapshots"))
                 if n.endswith(".tmp")]
    return sorted(ingest + snapshots)


def helpers_of(pid):
    """The pids of the crisp-unpack processes whose parent is pid."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        comm = stat[stat.index("(") + 1:stat.rindex(")")]
        if comm == "crisp-unpack" and int(stat[stat.rindex(")") + 2:].split()[1]) == pid:
            found.append(int(entry))
    return found


def body():
    with StandIn() as reg:
        small = [images.regular("small", b"a layer that downloads\n")]
        big = [images.regular("big", os.urandom(1 << 20))]
        img = images.push_image(reg, "crash", "latest", [small, big], fmt="oci", gzip=False)
        ref = f"{reg.host}/crash:latest"
        stalled = img["layer_digests"][1]
        reg.stall([stalled])

        with Crispd(registries=[reg], extra_args=["--restart-delay", "500"]) as d:
            result = {}

            def pull():
                with d.client() as c:
                    result["error"] = cri.rpc_error(c.call, "PullImage",
                                                    image=c.msg("ImageSpec", image=ref),
                                                    rpc_timeout=60)

            thread = threading.Thread(target=pull)
            thread.start()
            tap.ok(wait_for(lambda: reg.blob_gets(stalled) == 1), "the pull reaches the stalled layer")
            ingest = os.path.join(d.root, "images", "content", "ingest")
            tap.ok(wait_for(lambda: os.listdir(ingest)), "a partial download is in the ingest directory")

            reactor = reactor_pid(d.pid)
            tap.ok(wait_for(lambda: len(helpers_of(reactor)) == 1),
                   "the stalled layer's crisp-unpack runs")
            # Stopped, the helper cannot end on its own at the end of its pipe: only the
            # SIGKILL it asked for at the reactor's death ends it.
            helper = helpers_of(reactor)[0]
            os.kill(helper, signal.SIGSTOP)
            os.kill(reactor, signal.SIGKILL)
            thread.join(30)
            gone = wait_for(lambda: not os.path.exists(f"/proc/{helper}"))
            tap.ok(gone, "the helper dies with the reactor")
            if not gone:
                os.kill(helper, signal.SIGKILL)
            tap.is_(result["error"][0].name, "UNAVAILABLE", "the waiting client loses its call")

            c = d.client()
            tap.ok(wait_for(lambda: c.call("Version", rpc_timeout=2)), "crispd is back")
            tap.ok(reactor_pid(d.pid) not in (None, reactor), "a new reactor process serves")
            st = c.call("ImageStatus", image=c.msg("ImageSpec", image=ref))
            tap.ok(not st.HasField("image"), "ImageStatus shows no partial image")
            tap.is_(list(c.call("ListImages").images), [], "ListImages shows nothing")
            tap.is_(stray_files(d.root), [], "no ingest files or temporary snapshots are left")

            reg.stall(())
            resp = c.call("PullImage", image=c.msg("ImageSpec", image=ref), rpc_timeout=60)
            tap.is_(resp.image_ref, img["config_digest"], "a new pull completes with the image id")
            st = c.call("ImageStatus", image=c.msg("ImageSpec", image=ref))
            tap.is_(st.image.id, img["config_digest"], "ImageStatus shows the image")
            tap.is_(stray_files(d.root), [], "the completed pull leaves no stray files")
            c.close()


tap.run(body)
