#!/usr/bin/python3
"""A restarted crispd never takes an unrelated process with a recorded pid for a container."""

import json
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))

import images  # noqa: E402
import tap  # noqa: E402
from daemon import Crispd  # noqa: E402
from registry import Registry  # noqa: E402


def body():
    bystander = subprocess.Popen(["sleep", "600"])
    try:
        with Registry() as reg:
            images.busybox_image(reg, "busybox", "latest")
            image = f"{reg.host}/busybox"
            d = Crispd(registries=[reg], extra_args=["--no-keeper"])
            c = d.client()
            c.call("PullImage", image=c.msg("ImageSpec", image=image), rpc_timeout=120)
            pod_cfg = c.msg("PodSandboxConfig", metadata=c.msg(
                "PodSandboxMetadata", name="reuse", namespace="ns", uid="u"))
            pod = c.call("RunPodSandbox", config=pod_cfg).pod_sandbox_id
            ctr = c.call("CreateContainer", pod_sandbox_id=pod, sandbox_config=pod_cfg,
                         config=c.msg("ContainerConfig",
                                      metadata=c.msg("ContainerMetadata", name="ctr"),
                                      image=c.msg("ImageSpec", image=image),
                                      command=["sleep", "1000"])).container_id
            c.call("StartContainer", container_id=ctr)
            status_path = os.path.join(d.root, "records", "containers", ctr, "status.json")
            with open(status_path) as f:
                status = json.load(f)
            tap.ok(status["start_time"] > 0, "the record holds the process's start time")
            c.call("StopContainer", container_id=ctr, timeout=0)
            c.close()
            tap.is_(d.stop(), 0, "crispd stops")

            # The record now names a pid that belongs to an unrelated process.
            status["state"], status["pid"] = 1, bystander.pid
            with open(status_path, "w") as f:
                json.dump(status, f)
            # A record whose removal a crash interrupted: the request is gone already.
            half = os.path.join(d.root, "records", "pods", "ab" * 32)
            os.makedirs(half)
            with open(os.path.join(half, "status.json"), "w") as f:
                f.write("{}")

            d2 = Crispd(registries=[reg], extra_args=["--no-keeper", "--root", d.root,
                                                       "--state-dir", d.state_dir])
            c = d2.client()
            st = c.call("ContainerStatus", container_id=ctr).status
            tap.is_(st.state, 2, "the container is not taken to run in the unrelated process")
            c.call("StopContainer", container_id=ctr, timeout=0)
            time.sleep(0.2)
            tap.is_(bystander.poll(), None, "and stopping it leaves that process alone")
            tap.ok(not os.path.exists(half), "the remains of an interrupted removal are gone")
            c.call("RemovePodSandbox", pod_sandbox_id=pod)
            c.close()
            tap.is_(d2.stop(), 0, "the second crispd stops")
            d2.remove_tmpdir()
            d.remove_tmpdir()
    finally:
        bystander.send_signal(signal.SIGKILL)
        bystander.wait()


tap.run(body)
