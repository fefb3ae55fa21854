#!/usr/bin/python3
"""Containers from a registry image: create, start, logs, exit, stop, remove."""

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
from daemon import Crispd, leftovers  # noqa: E402
from registry import Registry  # noqa: E402

LOG_LINE = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z) (stdout|stderr) ([FP]) (.*)$")
EXITED = 2
RUNNING = 1
CREATED = 0


def wait_state(c, ctr, state, limit=300):
    """Poll ContainerStatus until the container reaches state (at most limit polls, 0.1 s apart)."""
    for _ in range(limit):
        st = c.call("ContainerStatus", container_id=ctr).status
        if st.state == state:
            return st
        time.sleep(0.1)
    return st


def read_log(path):
    with open(path) as f:
        return [LOG_LINE.match(line.rstrip("\n")) for line in f]


class Pod:
    def __init__(self, c, name, logdir):
        self.c = c
        self.logdir = logdir
        cfg = c.msg("PodSandboxConfig",
                    metadata=c.msg("PodSandboxMetadata", name=name, namespace="ns", uid=f"u-{name}"),
                    hostname=f"{name}-host", log_directory=logdir)
        self.config = cfg
        self.id = c.call("RunPodSandbox", config=cfg).pod_sandbox_id

    def container(self, name, image, command=(), args=(), envs=None, working_dir="",
                  labels=None, attempt=0):
        c = self.c
        cfg = c.msg("ContainerConfig",
                    metadata=c.msg("ContainerMetadata", name=name, attempt=attempt),
                    image=c.msg("ImageSpec", image=image), command=list(command), args=list(args),
                    envs=[c.msg("KeyValue", key=k, value=v.encode()) for k, v in (envs or {}).items()],
                    working_dir=working_dir, labels=labels or {"name": name},
                    annotations={"a": name}, log_path=f"{name}/{attempt}.log")
        return c.call("CreateContainer", pod_sandbox_id=self.id, config=cfg,
                      sandbox_config=self.config).container_id


def run_to_exit(c, pod, name, image, **kw):
    ctr = pod.container(name, image, **kw)
    c.call("StartContainer", container_id=ctr)
    return ctr, wait_state(c, ctr, EXITED)


def check_hello(c, pod, image, pushed):
    ctr = pod.container("hello", image, command=["echo", "hello"])
    st = c.call("ContainerStatus", container_id=ctr).status
    tap.is_(st.state, CREATED, "created container is CONTAINER_CREATED")
    tap.ok(st.created_at > 0 and st.started_at == 0, "created_at set, started_at not yet")
    c.call("StartContainer", container_id=ctr)
    st = wait_state(c, ctr, EXITED)
    tap.is_(st.state, EXITED, "echo hello exits")
    tap.is_(st.exit_code, 0, "exit code 0")
    tap.is_(st.reason, "Completed", "reason Completed")
    tap.ok(st.created_at <= st.started_at <= st.finished_at, "created <= started <= finished")
    tap.is_(st.image.image, image + ":latest", "status image is the image's tag")
    tap.is_(st.image_id, pushed["config_digest"], "image_id is the image id")
    tap.is_(st.image_ref, image + "@" + pushed["manifest_digest"], "image_ref is the repo digest")
    tap.is_(st.log_path, os.path.join(pod.logdir, "hello/0.log"), "log_path is absolute")
    tap.is_(dict(st.labels), {"name": "hello"}, "labels")
    tap.is_(dict(st.annotations), {"a": "hello"}, "annotations")
    lines = read_log(st.log_path)
    tap.ok(all(lines), "every log line is in the CRI format")
    tap.is_([(m.group(2), m.group(3), m.group(4)) for m in lines if m], [("stdout", "F", "hello")],
            "the log holds 'hello' as one F line on stdout")
    return ctr


def check_process(c, pod, image):
    _, st = run_to_exit(c, pod, "env", image,
                        command=["sh", "-c"],
                        args=['echo "$FOO"; pwd; hostname; echo oops >&2; printf tail'],
                        envs={"FOO": "bar baz"}, working_dir="/tmp")
    lines = [(m.group(2), m.group(3), m.group(4)) for m in read_log(st.log_path)]
    tap.is_(sorted(lines), sorted([("stdout", "F", "bar baz"), ("stdout", "F", "/tmp"),
                                   ("stdout", "F", "main-host"), ("stderr", "F", "oops"),
                                   ("stdout", "P", "tail")]),
            "env, working dir, hostname, stderr and a last line without newline")

    _, st = run_to_exit(c, pod, "fail", image, command=["sh", "-c", "exit 3"])
    tap.is_((st.exit_code, st.reason), (3, "Error"), "exit 3 gives reason Error")

    # The image's Cmd is sh; args replace it.
    _, st = run_to_exit(c, pod, "args", image, args=["echo", "from", "args"])
    lines = [m.group(4) for m in read_log(st.log_path)]
    tap.is_(lines, ["from args"], "args replace the image's Cmd")


def check_stop(c, pod, image):
    ctr = pod.container("sleeper", image, command=["sleep", "1000"])
    c.call("StartContainer", container_id=ctr)
    tap.is_(c.call("ContainerStatus", container_id=ctr).status.state, RUNNING, "running")
    cri.expect_error(c.call, "FAILED_PRECONDITION", "StartContainer", container_id=ctr)
    c.call("StopContainer", container_id=ctr, timeout=30)
    st = c.call("ContainerStatus", container_id=ctr).status
    tap.is_((st.state, st.exit_code), (EXITED, 143), "SIGTERM stops sleep: exit code 143")
    c.call("StopContainer", container_id=ctr, timeout=30)
    tap.ok(True, "stopping an exited container succeeds")

    ctr = pod.container("stubborn", image, command=["sh", "-c", "trap '' TERM; sleep 1000 & wait"])
    c.call("StartContainer", container_id=ctr)
    time.sleep(0.3)
    c.call("StopContainer", container_id=ctr, timeout=1)
    st = c.call("ContainerStatus", container_id=ctr).status
    tap.is_((st.state, st.exit_code), (EXITED, 137), "SIGKILL after the timeout: exit code 137")

    ctr = pod.container("killed", image, command=["sleep", "1000"])
    c.call("StartContainer", container_id=ctr)
    c.call("StopContainer", container_id=ctr, timeout=0)
    st = c.call("ContainerStatus", container_id=ctr).status
    tap.is_(st.exit_code, 137, "timeout 0 kills at once")


def check_errors(c, pod, image):
    details = cri.expect_error(c.call, "NOT_FOUND", "CreateContainer", pod_sandbox_id="ab" * 32,
                               config=c.msg("ContainerConfig",
                                            metadata=c.msg("ContainerMetadata", name="x"),
                                            image=c.msg("ImageSpec", image=image)))
    tap.like(details, "abab", "unknown pod is named")
    details = cri.expect_error(c.call, "NOT_FOUND", "CreateContainer", pod_sandbox_id=pod.id,
                               config=c.msg("ContainerConfig",
                                            metadata=c.msg("ContainerMetadata", name="x"),
                                            image=c.msg("ImageSpec", image="127.0.0.1:1/none")))
    tap.like(details, "127.0.0.1:1/none", "missing image is named")
    details = cri.expect_error(c.call, "INVALID_ARGUMENT", "CreateContainer", pod_sandbox_id=pod.id,
                               config=c.msg("ContainerConfig", image=c.msg("ImageSpec", image=image)))
    tap.is_(details, "config.metadata is missing", "missing metadata is named")
    details = cri.expect_error(c.call, "ALREADY_EXISTS", "CreateContainer", pod_sandbox_id=pod.id,
                               config=c.msg("ContainerConfig",
                                            metadata=c.msg("ContainerMetadata", name="hello"),
                                            image=c.msg("ImageSpec", image=image)))
    tap.like(details, "hello_", "a duplicate container name is ALREADY_EXISTS")
    cri.expect_error(c.call, "NOT_FOUND", "ContainerStatus", container_id="cd" * 32)
    cri.expect_error(c.call, "NOT_FOUND", "StopContainer", container_id="cd" * 32)
    c.call("RemoveContainer", container_id="cd" * 32)
    tap.ok(True, "removing an unknown container succeeds")

    ctr = pod.container("nocmd", image, command=["/no/such/binary"])
    details = cri.expect_error(c.call, "UNKNOWN", "StartContainer", container_id=ctr)
    tap.like(details, r"/no/such/binary", "exec failure names the command")
    st = c.call("ContainerStatus", container_id=ctr).status
    tap.is_((st.state, st.exit_code, st.reason), (EXITED, 128, "StartError"),
            "a failed start leaves the container EXITED with StartError")


def check_list(c, pod, hello):
    all_ids = {x.id for x in c.call("ListContainers").containers}
    tap.ok(hello in all_ids, "ListContainers lists the container")
    f = c.msg("ContainerFilter", id=hello[:12])
    tap.is_([x.id for x in c.call("ListContainers", filter=f).containers], [hello], "filter by id prefix")
    f = c.msg("ContainerFilter", label_selector={"name": "hello"})
    tap.is_([x.id for x in c.call("ListContainers", filter=f).containers], [hello], "filter by label")
    f = c.msg("ContainerFilter", pod_sandbox_id=pod.id[:8],
              state=c.msg("ContainerStateValue", state=RUNNING))
    tap.is_([x.id for x in c.call("ListContainers", filter=f).containers], [],
            "filter by pod and state RUNNING")
    f = c.msg("ContainerFilter", pod_sandbox_id="f" * 64)
    tap.is_(list(c.call("ListContainers", filter=f).containers), [], "filter by another pod")


def done_when_flow(d, reg, api, logdir):
    """The whole path a new user takes, over one API version."""
    with d.client(api) as c:
        image = f"{reg.host}/busybox"
        c.call("PullImage", image=c.msg("ImageSpec", image=image), rpc_timeout=120)
        pod = Pod(c, f"flow-{api}", os.path.join(logdir, api))
        ctr = pod.container("echo", image, command=["echo", "hello"])
        c.call("StartContainer", container_id=ctr)
        st = wait_state(c, ctr, EXITED)
        lines = [(m.group(2), m.group(3), m.group(4)) for m in read_log(st.log_path)]
        tap.is_(lines, [("stdout", "F", "hello")], f"{api}: hello is an F line in the CRI log")
        c.call("StopContainer", container_id=ctr, timeout=10)
        c.call("RemoveContainer", container_id=ctr)
        c.call("StopPodSandbox", pod_sandbox_id=pod.id)
        c.call("RemovePodSandbox", pod_sandbox_id=pod.id)
        tap.is_(list(c.call("ListContainers").containers), [], f"{api}: no container is left")
        tap.is_(list(c.call("ListPodSandbox").items), [], f"{api}: no pod is left")


def body():
    logdir = tempfile.mkdtemp(prefix="crisp-logs-")
    with Registry() as reg:
        pushed = images.busybox_image(reg, "busybox", "latest")
        image = f"{reg.host}/busybox"
        with Crispd(registries=[reg]) as d:
            with d.client() as c:
                c.call("PullImage", image=c.msg("ImageSpec", image=image), rpc_timeout=120)
                pod = Pod(c, "main", logdir)
                hello = check_hello(c, pod, image, pushed)
                check_process(c, pod, image)
                check_stop(c, pod, image)
                check_errors(c, pod, image)
                check_list(c, pod, hello)

                c.call("RemoveContainer", container_id=hello)
                cri.expect_error(c.call, "NOT_FOUND", "ContainerStatus", container_id=hello)
                c.call("RemovePodSandbox", pod_sandbox_id=pod.id)
                tap.is_(list(c.call("ListContainers").containers), [],
                        "RemovePodSandbox removes the pod's containers")
                tap.is_(os.listdir(os.path.join(d.root, "records", "containers")), [],
                        "no container record is left")

            done_when_flow(d, reg, "v1", logdir)
            done_when_flow(d, reg, "v1alpha2", logdir)
            tap.is_(leftovers(d.tmpdir), [], "no mounts are left")
    shutil.rmtree(logdir)


tap.run(body)
