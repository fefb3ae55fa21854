#!/usr/bin/python3
"""A crash or a stop of crispd: containers keep running, logs lose nothing, exit codes stay."""

import json
import os
import shutil
import signal
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))

import images  # noqa: E402
import tap  # noqa: E402
from daemon import Crispd, leftovers, reactor_pid, wait_for  # noqa: E402
from registry import Registry  # noqa: E402

RUNNING = 1
EXITED = 2


def counted_lines(path):
    with open(path) as f:
        return [line.rstrip("\n").split(" ", 3)[3] for line in f if " F " in line]


def body():
    logdir = tempfile.mkdtemp(prefix="crisp-logs-")
    with Registry() as reg:
        images.busybox_image(reg, "busybox", "latest")
        image = f"{reg.host}/busybox"
        with Crispd(registries=[reg], extra_args=["--restart-delay", "2000"]) as d:
            c = d.client()
            c.call("PullImage", image=c.msg("ImageSpec", image=image), rpc_timeout=120)
            pod_cfg = c.msg("PodSandboxConfig",
                            metadata=c.msg("PodSandboxMetadata", name="rs", namespace="ns", uid="u"),
                            log_directory=logdir, labels={"keep": "yes"})
            pod = c.call("RunPodSandbox", config=pod_cfg).pod_sandbox_id

            def start(name, script):
                cfg = c.msg("ContainerConfig", metadata=c.msg("ContainerMetadata", name=name),
                            image=c.msg("ImageSpec", image=image), command=["sh", "-c", script],
                            log_path=f"{name}.log", labels={"c": name})
                ctr = c.call("CreateContainer", pod_sandbox_id=pod, config=cfg,
                             sandbox_config=pod_cfg).container_id
                c.call("StartContainer", container_id=ctr)
                return ctr

            chatty = start("chatty", "i=0; while :; do echo $i; i=$((i+1)); sleep 0.002; done")
            # Half a line before the crash, the rest after it: one F record.
            halves = start("halves", "printf 'first half '; sleep 2; echo 'second half'; sleep 1000")
            ender = start("ender", "sleep 1; exit 7")
            before = c.call("ContainerStatus", container_id=chatty).status
            pid = json.loads(c.call("ContainerStatus", container_id=chatty,
                                    verbose=True).info["info"])["pid"]
            time.sleep(0.3)

            # kill -9 of the reactor: the keeper restarts it 2 s later.
            reactor = reactor_pid(d.pid)
            tap.ok(reactor is not None, "the keeper runs a reactor process")
            os.kill(reactor, signal.SIGKILL)
            time.sleep(0.5)
            tap.ok(os.path.exists(f"/proc/{pid}"), "the container runs on while crispd is down")
            c.close()
            c = d.client()
            tap.ok(wait_for(lambda: c.call("Version", rpc_timeout=2)), "crispd is back")
            tap.ok(reactor_pid(d.pid) not in (None, reactor), "a new reactor process serves")

            st = c.call("ContainerStatus", container_id=chatty).status
            tap.is_((st.state, st.created_at, st.started_at), (RUNNING, before.created_at,
                                                               before.started_at),
                    "the running container keeps its state and timestamps")
            tap.is_(dict(st.labels), {"c": "chatty"}, "and its labels")
            time.sleep(2)
            st = c.call("ContainerStatus", container_id=halves).status
            tap.is_([line.rstrip("\n").split(" ", 3)[2:] for line in open(st.log_path)],
                    [["F", "first half second half"]],
                    "a line half written before the crash is logged whole after it")
            st = c.call("ContainerStatus", container_id=ender).status
            tap.is_((st.state, st.exit_code, st.reason), (EXITED, 7, "Error"),
                    "the container that ended while crispd was down has its real exit code")
            tap.ok(st.finished_at - st.started_at < 2 * 10**9,
                   "and its real finish time, not the restart's")
            sb = c.call("PodSandboxStatus", pod_sandbox_id=pod).status
            tap.is_((sb.state, dict(sb.labels)), (0, {"keep": "yes"}), "the pod is still ready")

            # A clean stop leaves the containers running, and a new crispd adopts them.
            tap.is_(d.stop(), 0, "SIGTERM stops crispd with status 0")
            time.sleep(0.3)
            tap.ok(os.path.exists(f"/proc/{pid}"), "the container outlives a clean stop")
            d2 = Crispd(registries=[reg], extra_args=["--root", d.root, "--state-dir", d.state_dir])
            c = d2.client()
            st = c.call("ContainerStatus", container_id=chatty).status
            tap.is_(st.state, RUNNING, "a new crispd finds the container running")
            time.sleep(0.3)

            c.call("StopContainer", container_id=chatty, timeout=5)
            st = c.call("ContainerStatus", container_id=chatty).status
            tap.is_(st.state, EXITED, "StopContainer works on an adopted container")
            tap.ok(not os.path.exists(f"/proc/{pid}"), "the adopted process is gone")
            lines = counted_lines(st.log_path)
            tap.ok(len(lines) > 100, f"the log holds the output ({len(lines)} lines)")
            tap.is_(lines, [str(i) for i in range(len(lines))],
                    "no line was lost or repeated across the crash and the restart")

            c.call("StopPodSandbox", pod_sandbox_id=pod)
            c.call("RemovePodSandbox", pod_sandbox_id=pod)
            tap.is_(list(c.call("ListPodSandbox").items), [], "the old pod can be removed")
            c.close()
            if not tap.is_(d2.stop(), 0, "the second crispd stops cleanly"):
                tap.diag(d2.log())
            d2.remove_tmpdir()
            tap.is_(leftovers(d.tmpdir), [], "no mounts are left")

    shutil.rmtree(logdir)


tap.run(body)
