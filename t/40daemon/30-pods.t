#!/usr/bin/python3
"""Pod sandboxes: run, status, list with filters, stop and remove, namespaces."""

import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))

import cri  # noqa: E402
import tap  # noqa: E402
from daemon import Crispd, leftovers  # noqa: E402


def pod_config(c, name, attempt=0, hostname="", labels=None, pid_mode=None, network_mode=None):
    ns = {}
    if pid_mode is not None:
        ns["pid"] = pid_mode
    if network_mode is not None:
        ns["network"] = network_mode
    linux = c.msg("LinuxPodSandboxConfig", security_context=c.msg(
        "LinuxSandboxSecurityContext", namespace_options=c.msg("NamespaceOption", **ns)))
    return c.msg("PodSandboxConfig",
                 metadata=c.msg("PodSandboxMetadata", name=name, namespace="default",
                                uid=f"uid-{name}", attempt=attempt),
                 hostname=hostname, labels=labels or {}, annotations={"note": name},
                 linux=linux)


def pod_pid(c, pod_id):
    st = c.call("PodSandboxStatus", pod_sandbox_id=pod_id, verbose=True)
    return json.loads(st.info["info"])["pid"]


def ns_link(pid, kind):
    return os.readlink(f"/proc/{pid}/ns/{kind}")


def check_run_and_status(c):
    cfg = pod_config(c, "web", hostname="web-host", labels={"app": "web", "tier": "front"})
    pod = c.call("RunPodSandbox", config=cfg).pod_sandbox_id
    tap.like(pod, r"^[0-9a-f]{64}$", "pod id is 64 lowercase hex characters")

    st = c.call("PodSandboxStatus", pod_sandbox_id=pod).status
    tap.is_(st.id, pod, "status id")
    tap.is_(st.metadata.name, "web", "status metadata name")
    tap.is_(st.metadata.namespace, "default", "status metadata namespace")
    tap.is_(st.state, 0, "state is SANDBOX_READY")
    tap.ok(st.created_at > 1_600_000_000 * 10**9, "created_at is in nanoseconds")
    tap.is_(dict(st.labels), {"app": "web", "tier": "front"}, "labels")
    tap.is_(dict(st.annotations), {"note": "web"}, "annotations")

    pid = pod_pid(c, pod)
    with open(f"/proc/{pid}/comm") as f:
        tap.is_(f.read().strip(), "crisp-pause", "the pod is held by crisp-pause")
    for kind in ("net", "uts", "ipc", "pid"):
        tap.ok(ns_link(pid, kind) != ns_link(os.getpid(), kind), f"pod has its own {kind} namespace")
    tap.is_(os.popen(f"nsenter -t {pid} -u hostname").read().strip(), "web-host",
            "pod hostname is set")
    tap.like(os.popen(f"nsenter -t {pid} -n ip -o link show lo").read(), r"state UNKNOWN|UP",
             "loopback is up in the pod's network namespace")
    return pod, pid


def check_host_network(c):
    cfg = pod_config(c, "hostnet", network_mode=2, pid_mode=2)  # NODE
    pod = c.call("RunPodSandbox", config=cfg).pod_sandbox_id
    pid = pod_pid(c, pod)
    tap.is_(ns_link(pid, "net"), ns_link(os.getpid(), "net"), "NODE network mode keeps the host's")
    tap.is_(ns_link(pid, "pid"), ns_link(os.getpid(), "pid"), "NODE pid mode keeps the host's")
    tap.ok(ns_link(pid, "uts") != ns_link(os.getpid(), "uts"), "uts is still the pod's own")
    return pod


def check_sandbox_user(c):
    sc = c.msg("LinuxSandboxSecurityContext", run_as_user=c.msg("Int64Value", value=65534),
               run_as_group=c.msg("Int64Value", value=65533), supplemental_groups=[1234, 5678])
    cfg = c.msg("PodSandboxConfig",
                metadata=c.msg("PodSandboxMetadata", name="user", namespace="default", uid="u-user"),
                linux=c.msg("LinuxPodSandboxConfig", security_context=sc))
    pod = c.call("RunPodSandbox", config=cfg).pod_sandbox_id
    with open(f"/proc/{pod_pid(c, pod)}/status") as f:
        status = dict(line.rstrip("\n").split(":\t", 1) for line in f if ":\t" in line)
    tap.is_(status["Uid"].split()[0], "65534", "the pause process runs as the pod's run_as_user")
    tap.is_(status["Gid"].split()[0], "65533", "and its run_as_group")
    tap.is_(status["Groups"].split(), ["1234", "5678"], "and its supplemental_groups")
    c.call("RemovePodSandbox", pod_sandbox_id=pod)

    sc = c.msg("LinuxSandboxSecurityContext", run_as_group=c.msg("Int64Value", value=5))
    cfg = c.msg("PodSandboxConfig",
                metadata=c.msg("PodSandboxMetadata", name="grp", namespace="default", uid="u-grp"),
                linux=c.msg("LinuxPodSandboxConfig", security_context=sc))
    details = cri.expect_error(c.call, "INVALID_ARGUMENT", "RunPodSandbox", config=cfg)
    tap.like(details, "run_as_group is set without run_as_user", "a group without a user is named")


def check_list(c, web, hostnet):
    ids = sorted(p.id for p in c.call("ListPodSandbox").items)
    tap.is_(ids, sorted([web, hostnet]), "ListPodSandbox lists both pods")
    f = c.msg("PodSandboxFilter", id=web[:10])
    tap.is_([p.id for p in c.call("ListPodSandbox", filter=f).items], [web], "filter by id prefix")
    f = c.msg("PodSandboxFilter", label_selector={"app": "web"})
    tap.is_([p.id for p in c.call("ListPodSandbox", filter=f).items], [web], "filter by label")
    f = c.msg("PodSandboxFilter", label_selector={"app": "web", "tier": "back"})
    tap.is_([p.id for p in c.call("ListPodSandbox", filter=f).items], [], "all labels must match")
    f = c.msg("PodSandboxFilter", state=c.msg("PodSandboxStateValue", state=1))
    tap.is_([p.id for p in c.call("ListPodSandbox", filter=f).items], [], "no NOTREADY pod yet")


def check_errors(c, web):
    details = cri.expect_error(c.call, "ALREADY_EXISTS", "RunPodSandbox", config=pod_config(c, "web"))
    tap.like(details, web, "a second pod with the same metadata is ALREADY_EXISTS naming the first")
    details = cri.expect_error(c.call, "INVALID_ARGUMENT", "RunPodSandbox",
                               config=c.msg("PodSandboxConfig"))
    tap.is_(details, "config.metadata is missing", "missing metadata is named")
    cri.expect_error(c.call, "NOT_FOUND", "PodSandboxStatus", pod_sandbox_id="ab" * 32)
    cri.expect_error(c.call, "NOT_FOUND", "StopPodSandbox", pod_sandbox_id="ab" * 32)
    details = cri.expect_error(c.call, "INVALID_ARGUMENT", "PodSandboxStatus", pod_sandbox_id="xyz")
    tap.like(details, r"'xyz'", "a non-hex id is named")
    cri.expect_error(c.call, "INVALID_ARGUMENT", "StopPodSandbox", pod_sandbox_id="")


def check_stop_remove(c, pod, pid):
    c.call("StopPodSandbox", pod_sandbox_id=pod)
    st = c.call("PodSandboxStatus", pod_sandbox_id=pod).status
    tap.is_(st.state, 1, "stopped pod is SANDBOX_NOTREADY")
    tap.ok(not os.path.exists(f"/proc/{pid}"), "the pause process is gone")
    c.call("StopPodSandbox", pod_sandbox_id=pod)
    tap.ok(True, "stopping a stopped pod succeeds")
    f = c.msg("PodSandboxFilter", state=c.msg("PodSandboxStateValue", state=1))
    tap.is_([p.id for p in c.call("ListPodSandbox", filter=f).items], [pod], "filter by state")
    c.call("RemovePodSandbox", pod_sandbox_id=pod[:16])
    cri.expect_error(c.call, "NOT_FOUND", "PodSandboxStatus", pod_sandbox_id=pod)
    c.call("RemovePodSandbox", pod_sandbox_id=pod)
    tap.ok(True, "removing a removed pod succeeds")


def body():
    with Crispd() as d:
        with d.client() as c:
            web, pid = check_run_and_status(c)
            hostnet = check_host_network(c)
            check_list(c, web, hostnet)
            check_errors(c, web)
            check_sandbox_user(c)
            check_stop_remove(c, web, pid)
            # Remove without a stop first: RemovePodSandbox stops it.
            hostnet_pid = pod_pid(c, hostnet)
            c.call("RemovePodSandbox", pod_sandbox_id=hostnet)
            tap.ok(not os.path.exists(f"/proc/{hostnet_pid}"), "remove stops a running pod")
            tap.is_(list(c.call("ListPodSandbox").items), [], "no pod is left")
        with d.client("v1alpha2") as old:
            pod = old.call("RunPodSandbox", config=pod_config(old, "old")).pod_sandbox_id
            tap.is_(old.call("PodSandboxStatus", pod_sandbox_id=pod).status.state, 0,
                    "v1alpha2 RunPodSandbox")
            old.call("StopPodSandbox", pod_sandbox_id=pod)
            old.call("RemovePodSandbox", pod_sandbox_id=pod)
            tap.is_(list(old.call("ListPodSandbox").items), [], "v1alpha2 remove")
        tap.is_(os.listdir(os.path.join(d.state_dir, "pods")), [], "no pod state is left")
        tap.is_(leftovers(d.tmpdir), [], "no mounts are left")


tap.run(body)
