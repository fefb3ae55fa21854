#!/usr/bin/python3
"""Container lifecycle details: stop signals, concurrent stops, id prefixes."""

import json
import os
import shutil
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))

import cri  # noqa: E402
import images  # noqa: E402
import tap  # noqa: E402
from daemon import Crispd  # noqa: E402
from registry import Registry  # noqa: E402

EXITED = 2


def body():
    logdir = tempfile.mkdtemp(prefix="crisp-logs-")
    with Registry() as reg:
        images.busybox_image(reg, "busybox", "latest")
        images.busybox_image(reg, "usr1", "latest",
                             config_overrides={"StopSignal": "SIGUSR1"})
        with Crispd(registries=[reg]) as d, d.client() as c:
            for name in ("busybox", "usr1"):
                c.call("PullImage", image=c.msg("ImageSpec", image=f"{reg.host}/{name}"),
                       rpc_timeout=120)
            pod_cfg = c.msg("PodSandboxConfig",
                            metadata=c.msg("PodSandboxMetadata", name="life", namespace="ns", uid="u"),
                            log_directory=logdir)
            pod = c.call("RunPodSandbox", config=pod_cfg).pod_sandbox_id

            def create(name, script, image="busybox", **kw):
                cfg = c.msg("ContainerConfig", metadata=c.msg("ContainerMetadata", name=name),
                            image=c.msg("ImageSpec", image=f"{reg.host}/{image}"),
                            command=["sh", "-c", script], log_path=f"{name}.log", **kw)
                return c.call("CreateContainer", pod_sandbox_id=pod, config=cfg,
                              sandbox_config=pod_cfg).container_id

            # The image's STOPSIGNAL is sent first.
            trap = "trap 'exit 42' USR1; trap 'exit 43' TERM; while :; do sleep 0.05; done"
            ctr = create("usr1", trap, image="usr1")
            c.call("StartContainer", container_id=ctr)
            time.sleep(0.3)
            c.call("StopContainer", container_id=ctr, timeout=10)
            st = c.call("ContainerStatus", container_id=ctr).status
            tap.is_((st.state, st.exit_code, st.reason), (EXITED, 42, "Error"),
                    "the image's STOPSIGNAL (SIGUSR1) stops the container")

            # The request's stop_signal (runtime.v1) wins over the image's.
            ctr = create("term", trap, image="usr1", stop_signal=23)  # SIGNAL_SIGTERM
            c.call("StartContainer", container_id=ctr)
            time.sleep(0.3)
            c.call("StopContainer", container_id=ctr, timeout=10)
            tap.is_(c.call("ContainerStatus", container_id=ctr).status.exit_code, 43,
                    "config stop_signal SIGTERM overrides the image's")

            # Two StopContainer calls at once: the second joins the first.
            ctr = create("stubborn", "trap '' TERM; while :; do sleep 0.05; done")
            c.call("StartContainer", container_id=ctr)
            time.sleep(0.3)
            results = []

            def stop(timeout):
                start = time.monotonic()
                c.call("StopContainer", container_id=ctr, timeout=timeout, rpc_timeout=30)
                results.append(time.monotonic() - start)

            threads = [threading.Thread(target=stop, args=(2,)) for _ in range(2)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            tap.is_(len(results), 2, "both concurrent stops return")
            st = c.call("ContainerStatus", container_id=ctr).status
            tap.is_((st.state, st.exit_code), (EXITED, 137), "killed after the timeout")

            # Verbose status carries the pid and paths.
            ctr = create("verbose", "sleep 1000")
            c.call("StartContainer", container_id=ctr)
            resp = c.call("ContainerStatus", container_id=ctr, verbose=True)
            info = json.loads(resp.info["info"])
            tap.ok(info["pid"] > 0 and os.path.exists(f"/proc/{info['pid']}"), "info has the live pid")
            tap.is_(info["sandboxID"], pod, "info has the pod id")
            c.call("StopContainer", container_id=ctr, timeout=0)

            # With 17 containers, two share a first hex digit: that prefix is ambiguous.
            ids = [create(f"many{i}", "true") for i in range(17)]
            firsts = [i[0] for i in ids]
            dup = next(ch for ch in firsts if firsts.count(ch) > 1)
            details = cri.expect_error(c.call, "INVALID_ARGUMENT", "ContainerStatus", container_id=dup)
            tap.like(details, "ambiguous", "an ambiguous id prefix is INVALID_ARGUMENT")
            unique = ids[0]
            st = c.call("ContainerStatus", container_id=unique[:20]).status
            tap.is_(st.id, unique, "a unique prefix resolves")

            c.call("RemovePodSandbox", pod_sandbox_id=pod)
            tap.is_(list(c.call("ListContainers").containers), [], "pod removal removes all")

    shutil.rmtree(logdir)


tap.run(body)
