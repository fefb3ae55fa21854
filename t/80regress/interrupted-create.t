#!/usr/bin/python3
"""Creates that a crash of crispd interrupted are rolled back when it starts again."""

import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))

import images  # noqa: E402
import tap  # noqa: E402
from daemon import Crispd, leftovers  # noqa: E402
from registry import Registry  # noqa: E402


def body():
    with Registry() as reg:
        images.busybox_image(reg, "busybox", "latest")
        image = f"{reg.host}/busybox"
        d = Crispd(registries=[reg], extra_args=["--no-keeper"])
        c = d.client()
        c.call("PullImage", image=c.msg("ImageSpec", image=image), rpc_timeout=120)
        pod_cfg = c.msg("PodSandboxConfig",
                        metadata=c.msg("PodSandboxMetadata", name="half", namespace="ns", uid="u"))
        pod = c.call("RunPodSandbox", config=pod_cfg).pod_sandbox_id
        pause = json.loads(c.call("PodSandboxStatus", pod_sandbox_id=pod,
                                  verbose=True).info["info"])["pid"]
        ctr_cfg = c.msg("ContainerConfig", metadata=c.msg("ContainerMetadata", name="ctr"),
                        image=c.msg("ImageSpec", image=image), command=["sleep", "1000"])
        ctr = c.call("CreateContainer", pod_sandbox_id=pod, config=ctr_cfg,
                     sandbox_config=pod_cfg).container_id
        c.close()
        tap.is_(d.stop(), 0, "crispd stops")

        # Make both records look as a crash in the middle of their creates leaves them.
        os.unlink(os.path.join(d.root, "records", "containers", ctr, "status.json"))
        status_path = os.path.join(d.root, "records", "pods", pod, "status.json")
        with open(status_path) as f:
            status = json.load(f)
        status["creating"] = True
        with open(status_path, "w") as f:
            json.dump(status, f)

        d2 = Crispd(registries=[reg], extra_args=["--no-keeper", "--root", d.root,
                                                   "--state-dir", d.state_dir])
        c = d2.client()
        tap.is_(list(c.call("ListPodSandbox").items), [], "the interrupted pod is gone")
        tap.is_(list(c.call("ListContainers").containers), [], "the interrupted container is gone")
        tap.is_(os.listdir(os.path.join(d.root, "records", "containers")), [], "no container record")
        tap.is_(os.listdir(os.path.join(d.root, "records", "pods")), [], "no pod record")
        for _ in range(100):
            if not os.path.exists(f"/proc/{pause}"):
                break
            time.sleep(0.05)
        tap.ok(not os.path.exists(f"/proc/{pause}") or open(f"/proc/{pause}/stat").read().split()[2] == "Z",
               "the interrupted pod's pause process was killed")
        pod = c.call("RunPodSandbox", config=pod_cfg).pod_sandbox_id
        tap.like(pod, r"^[0-9a-f]{64}$", "the same pod can be created again")
        ctr = c.call("CreateContainer", pod_sandbox_id=pod, config=ctr_cfg,
                     sandbox_config=pod_cfg).container_id
        tap.like(ctr, r"^[0-9a-f]{64}$", "the same container can be created again")
        c.call("RemovePodSandbox", pod_sandbox_id=pod)
        c.close()
        tap.is_(d2.stop(), 0, "the second crispd stops")
        d2.remove_tmpdir()
        tap.is_(leftovers(d.tmpdir), [], "no mounts are left")
        d.remove_tmpdir()


tap.run(body)
