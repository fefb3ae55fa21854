#!/usr/bin/python3
"""Paths and values that must fail fast: FIFOs where files are read or written, huge messages."""

import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))

import cri  # noqa: E402
import images  # noqa: E402
import tap  # noqa: E402
from daemon import Crispd  # noqa: E402
from registry import Registry  # noqa: E402


def body():
    scratch = tempfile.mkdtemp(prefix="crisp-hostile-")
    fifo = os.path.join(scratch, "fifo")
    os.mkfifo(fifo)
    with Registry() as reg:
        images.busybox_image(reg, "busybox", "latest")
        image = f"{reg.host}/busybox"
        with Crispd(registries=[reg]) as d, d.client() as c:
            c.call("PullImage", image=c.msg("ImageSpec", image=image), rpc_timeout=120)
            pod_cfg = c.msg("PodSandboxConfig",
                            metadata=c.msg("PodSandboxMetadata", name="h", namespace="ns", uid="u"),
                            log_directory=scratch)
            pod = c.call("RunPodSandbox", config=pod_cfg).pod_sandbox_id
            try:
                run_checks(c, pod, pod_cfg, image, fifo)
            finally:
                c.call("RemovePodSandbox", pod_sandbox_id=pod)
    os.unlink(fifo)
    os.rmdir(scratch)


def run_checks(c, pod, pod_cfg, image, fifo):
    """The checks, on a pod that body() removes whatever happens."""
    def config(name, **kw):
        return c.msg("ContainerConfig", metadata=c.msg("ContainerMetadata", name=name),
                     image=c.msg("ImageSpec", image=image), command=["true"], **kw)

    # A seccomp profile that is a FIFO: read without blocking the reactor.
    sc = c.msg("LinuxContainerSecurityContext", seccomp=c.msg(
        "SecurityProfile", profile_type=2, localhost_ref=fifo))
    start = time.monotonic()
    details = cri.expect_error(c.call, "INVALID_ARGUMENT", "CreateContainer",
                               pod_sandbox_id=pod, sandbox_config=pod_cfg, rpc_timeout=10,
                               config=config("seccomp", linux=c.msg(
                                   "LinuxContainerConfig", security_context=sc)))
    tap.like(details, "not a regular file", "a FIFO as seccomp profile is rejected")
    tap.ok(time.monotonic() - start < 5, "at once, without waiting for a writer")

    # A log path that is a FIFO.
    details = cri.expect_error(c.call, "INVALID_ARGUMENT", "CreateContainer",
                               pod_sandbox_id=pod, sandbox_config=pod_cfg, rpc_timeout=10,
                               config=config("log", log_path="fifo"))
    tap.like(details, "is not a regular file|No such device", "a FIFO as log file is rejected")
    tap.is_(c.call("Version", rpc_timeout=5).runtime_name, "crisp", "the reactor still serves")

    # An error quoting a 100 KB field still reaches the client, shortened.
    long_path = "x" * 100_000
    code, details = cri.rpc_error(
        c.call, "CreateContainer", pod_sandbox_id=pod, sandbox_config=pod_cfg,
        rpc_timeout=10, config=config("long", mounts=[c.msg(
            "Mount", host_path="/tmp", container_path=long_path)]))
    tap.is_(code.name if code else None, "INVALID_ARGUMENT",
            "a very long error message still ends the call with its status")
    tap.ok(details is not None and details.endswith("(truncated)") and len(details) <= 2048,
           "and the message is shortened")

    # oom_score_adj out of the kernel's range.
    res = c.msg("LinuxContainerResources", oom_score_adj=5000)
    details = cri.expect_error(c.call, "INVALID_ARGUMENT", "CreateContainer",
                               pod_sandbox_id=pod, sandbox_config=pod_cfg,
                               config=config("oom", linux=c.msg("LinuxContainerConfig",
                                                                resources=res)))
    tap.like(details, "oom_score_adj 5000 is out of range", "oom_score_adj is range-checked")
    tap.is_(list(c.call("ListContainers").containers), [], "no container was left")


tap.run(body)
