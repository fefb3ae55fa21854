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

            # A terminal: both streams arrive as stdout records, and the process sees a tty.
            ctr = create("tty", "test -t 0 && test -t 1 && echo is-a-tty; echo to-stderr >&2",
                         tty=True)
            c.call("StartContainer", container_id=ctr)
            for _ in range(100):
                st = c.call("ContainerStatus", container_id=ctr).status
                if st.state == EXITED:
                    break
                time.sleep(0.05)
            with open(st.log_path, "rb") as f:
                records = [line.rstrip(b"\n").split(b" ", 3)[1:] for line in f]
            # The terminal's line discipline turns each newline into "\r\n".
            tap.is_(records, [[b"stdout", b"F", b"is-a-tty\r"], [b"stdout", b"F", b"to-stderr\r"]],
                    "a tty container logs its terminal output as stdout")
            details = cri.expect_error(c.call, "UNIMPLEMENTED", "CreateContainer",
                                       pod_sandbox_id=pod, sandbox_config=pod_cfg,
                                       config=c.msg("ContainerConfig",
                                                    metadata=c.msg("ContainerMetadata", name="in"),
                                                    image=c.msg("ImageSpec",
                                                                image=f"{reg.host}/busybox"),
                                                    stdin=True))
            tap.like(details, "stdin", "stdin is not supported yet and says so")

            # PID mode TARGET: share the PID namespace of another container of the pod.
            def pid_mode(mode, target=""):
                return c.msg("LinuxContainerConfig", security_context=c.msg(
                    "LinuxContainerSecurityContext", namespace_options=c.msg(
                        "NamespaceOption", pid=mode, target_id=target)))

            target = create("target", "sleep 1000", linux=pid_mode(1))  # CONTAINER
            c.call("StartContainer", container_id=target)
            debug = create("debug", "cat /proc/1/cmdline | tr '\\0' ' '; echo",
                           linux=pid_mode(3, target))  # TARGET
            c.call("StartContainer", container_id=debug)
            for _ in range(100):
                st = c.call("ContainerStatus", container_id=debug).status
                if st.state == EXITED:
                    break
                time.sleep(0.05)
            with open(st.log_path) as f:
                lines = [line.rstrip("\n").split(" ", 3)[3] for line in f]
            tap.is_(lines, ["sleep 1000 "], "a TARGET container sees the target's processes")
            details = cri.expect_error(c.call, "NOT_FOUND", "CreateContainer",
                                       pod_sandbox_id=pod, sandbox_config=pod_cfg,
                                       config=c.msg("ContainerConfig",
                                                    metadata=c.msg("ContainerMetadata", name="bad"),
                                                    image=c.msg("ImageSpec",
                                                                image=f"{reg.host}/busybox"),
                                                    command=["true"],
                                                    linux=pid_mode(3, "ab" * 32)))
            tap.like(details, "target_id", "an unknown target is NOT_FOUND naming target_id")
            c.call("StopContainer", container_id=target, timeout=0)

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
