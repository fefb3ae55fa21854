#!/usr/bin/python3
"""Cgroups of pods and containers: limits, defaults, updates, OOM kills, cleanup, RuntimeConfig.

Runs on cgroup v1 (every controller under /sys/fs/cgroup/<controller>) and
skips on other hosts: the v2 files are covered by the C unit test.
"""

import json
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

CGROUP = "/sys/fs/cgroup"
CONTROLLERS = ("cpu", "cpuset", "memory", "pids")
EXITED = 2
RUNNING = 1
MIB = 1024 * 1024
# memory.limit_in_bytes of an unlimited v1 memory cgroup with 4 KiB pages.
V1_UNLIMITED = 9223372036854771712
# Parents unique to this run, removed at the end.
PARENT = f"/crisp-t{os.getpid()}"
SLICE_PREFIX = f"crispt{os.getpid()}"


def read(controller, path, name):
    with open(f"{CGROUP}/{controller}{path}/{name}") as f:
        return f.read().strip()


def exists(controller, path):
    return os.path.isdir(f"{CGROUP}/{controller}{path}")


def gone_everywhere(path):
    return all(not exists(ctl, path) for ctl in CONTROLLERS)


def wait_for(cond, limit=100):
    for _ in range(limit):
        if cond():
            return True
        time.sleep(0.05)
    return cond()


def wait_state(c, ctr, state, limit=300):
    for _ in range(limit):
        st = c.call("ContainerStatus", container_id=ctr).status
        if st.state == state:
            return st
        time.sleep(0.1)
    return st


def proc_cgroups(text):
    """The lines of a /proc/PID/cgroup file as {controller: path}."""
    result = {}
    for line in text.splitlines():
        _, controllers, path = line.split(":", 2)
        for ctl in controllers.split(","):
            result[ctl] = path
    return result


def log_text(path):
    with open(path) as f:
        return "\n".join(line.rstrip("\n").split(" ", 3)[3] for line in f)


class Pod:
    def __init__(self, c, name, logdir, cgroup_parent=""):
        self.c = c
        self.config = c.msg("PodSandboxConfig",
                            metadata=c.msg("PodSandboxMetadata", name=name, namespace="ns",
                                           uid=f"u-{name}"),
                            log_directory=logdir,
                            linux=c.msg("LinuxPodSandboxConfig", cgroup_parent=cgroup_parent))
        self.id = c.call("RunPodSandbox", config=self.config).pod_sandbox_id

    def create(self, name, image, command, resources=None):
        c = self.c
        linux = c.msg("LinuxContainerConfig", resources=resources) if resources else None
        cfg = c.msg("ContainerConfig", metadata=c.msg("ContainerMetadata", name=name),
                    image=c.msg("ImageSpec", image=image), command=list(command),
                    log_path=f"{name}.log", linux=linux)
        return c.call("CreateContainer", pod_sandbox_id=self.id, config=cfg,
                      sandbox_config=self.config).container_id


def check_pod(c, pod, pod_cg):
    tap.ok(all(exists(ctl, pod_cg) for ctl in CONTROLLERS),
           f"pod cgroup {pod_cg} exists in cpu, cpuset, memory and pids")
    procs = read("memory", pod_cg, "cgroup.procs").split()
    tap.is_(len(procs), 1, "pod cgroup holds one process, the pause")
    with open(f"/proc/{procs[0]}/cgroup") as f:
        seen = proc_cgroups(f.read())
    for ctl in CONTROLLERS:
        tap.is_(seen.get(ctl), pod_cg, f"pause process is in the pod cgroup for {ctl}")


def check_limits(c, pod, image, pod_cg):
    res = c.msg("LinuxContainerResources", cpu_shares=512, cpu_quota=50000, cpu_period=100000,
                cpuset_cpus="0", cpuset_mems="0", memory_limit_in_bytes=64 * MIB,
                memory_swap_limit_in_bytes=64 * MIB)
    ctr = pod.create("limits", image, ["sh", "-c", "cat /proc/self/cgroup; exec sleep 1000"],
                     res)
    cg = f"{pod_cg}/{ctr}"
    tap.ok(all(exists(ctl, cg) for ctl in CONTROLLERS), "container cgroup exists after create")
    c.call("StartContainer", container_id=ctr)

    tap.is_(read("cpu", cg, "cpu.shares"), "512", "cpu.shares")
    tap.is_(read("cpu", cg, "cpu.cfs_quota_us"), "50000", "cpu.cfs_quota_us")
    tap.is_(read("cpu", cg, "cpu.cfs_period_us"), "100000", "cpu.cfs_period_us")
    tap.is_(read("cpuset", cg, "cpuset.cpus"), "0", "cpuset.cpus")
    tap.is_(read("cpuset", cg, "cpuset.mems"), "0", "cpuset.mems")
    tap.is_(read("memory", cg, "memory.limit_in_bytes"), str(64 * MIB), "memory.limit_in_bytes")
    if exists("memory", cg) and os.path.exists(f"{CGROUP}/memory{cg}/memory.memsw.limit_in_bytes"):
        tap.is_(read("memory", cg, "memory.memsw.limit_in_bytes"), str(64 * MIB),
                "memory.memsw.limit_in_bytes")
    tap.is_(read("pids", cg, "pids.max"), "max", "pids.max unlimited without pids_limit")

    st = c.call("ContainerStatus", container_id=ctr).status
    got = st.resources.linux
    tap.is_((got.cpu_shares, got.cpu_quota, got.cpu_period, got.cpuset_cpus, got.cpuset_mems,
             got.memory_limit_in_bytes, got.memory_swap_limit_in_bytes),
            (512, 50000, 100000, "0", "0", 64 * MIB, 64 * MIB),
            "ContainerStatus reports the resources")

    wait_for(lambda: "memory:" in open(st.log_path).read())
    seen = proc_cgroups(log_text(st.log_path))
    for ctl in CONTROLLERS:
        tap.is_(seen.get(ctl), cg, f"/proc/self/cgroup inside the container: {ctl}")
    procs = read("memory", cg, "cgroup.procs").split()
    tap.is_(len(procs), 1, "container cgroup holds the container's one process")
    return ctr, cg


def check_update(c, ctr, cg):
    # Raising memory above the current memsw limit needs memsw written first.
    c.call("UpdateContainerResources", container_id=ctr,
           linux=c.msg("LinuxContainerResources", memory_limit_in_bytes=128 * MIB,
                       memory_swap_limit_in_bytes=128 * MIB, cpu_shares=256))
    tap.is_(read("memory", cg, "memory.limit_in_bytes"), str(128 * MIB), "raised memory limit")
    tap.is_(read("cpu", cg, "cpu.shares"), "256", "updated cpu.shares")
    tap.is_(read("cpu", cg, "cpu.cfs_quota_us"), "50000", "unset fields keep their value")

    c.call("UpdateContainerResources", container_id=ctr,
           linux=c.msg("LinuxContainerResources", memory_limit_in_bytes=32 * MIB,
                       memory_swap_limit_in_bytes=32 * MIB, cpu_quota=-1))
    tap.is_(read("memory", cg, "memory.limit_in_bytes"), str(32 * MIB), "lowered memory limit")
    tap.is_(read("cpu", cg, "cpu.cfs_quota_us"), "-1", "quota lifted with -1")

    got = c.call("ContainerStatus", container_id=ctr).status.resources.linux
    tap.is_((got.cpu_shares, got.cpu_quota, got.cpu_period, got.memory_limit_in_bytes,
             got.memory_swap_limit_in_bytes, got.cpuset_cpus),
            (256, -1, 100000, 32 * MIB, 32 * MIB, "0"),
            "ContainerStatus reports the merged resources")

    cri.expect_error(c.call, "INVALID_ARGUMENT", "UpdateContainerResources", container_id=ctr,
                     linux=c.msg("LinuxContainerResources", memory_limit_in_bytes=48 * MIB,
                                 unified={"memory.high": "1000000"}))
    tap.is_(read("memory", cg, "memory.limit_in_bytes"), str(32 * MIB),
            "a rejected update changes nothing")
    cri.expect_error(c.call, "NOT_FOUND", "UpdateContainerResources", container_id="ab" * 32,
                     linux=c.msg("LinuxContainerResources", cpu_shares=2))


def check_defaults(c, pod, image, pod_cg):
    ctr = pod.create("defaults", image, ["sleep", "1000"])
    cg = f"{pod_cg}/{ctr}"
    c.call("StartContainer", container_id=ctr)
    tap.is_(read("cpu", cg, "cpu.shares"), "1024", "default cpu.shares")
    tap.is_(read("cpu", cg, "cpu.cfs_quota_us"), "-1", "default cpu.cfs_quota_us")
    tap.is_(read("cpu", cg, "cpu.cfs_period_us"), "100000", "default cpu.cfs_period_us")
    tap.is_(read("memory", cg, "memory.limit_in_bytes"), str(V1_UNLIMITED),
            "default memory.limit_in_bytes")
    tap.is_(read("cpuset", cg, "cpuset.cpus"), read("cpuset", pod_cg, "cpuset.cpus"),
            "default cpuset.cpus is the pod's")
    tap.is_(read("pids", cg, "pids.max"), "max", "default pids.max")
    st = c.call("ContainerStatus", container_id=ctr).status
    tap.is_(st.resources.linux.memory_limit_in_bytes, 0, "no memory limit reported when unset")
    c.call("RemoveContainer", container_id=ctr)
    tap.ok(wait_for(lambda: gone_everywhere(cg)), "RemoveContainer removes a running container's cgroup")


def check_oom(c, pod, image, pod_cg):
    res = c.msg("LinuxContainerResources", memory_limit_in_bytes=16 * MIB,
                memory_swap_limit_in_bytes=16 * MIB)
    # The shell holds 64 MiB in a variable: it is the one the OOM killer picks.
    hog = "x=$(head -c 67108864 /dev/zero | tr '\\0' a); echo ${#x}"
    ctr = pod.create("oom", image, ["sh", "-c", hog], res)
    cg = f"{pod_cg}/{ctr}"
    c.call("StartContainer", container_id=ctr)
    st = wait_state(c, ctr, EXITED)
    tap.is_(st.state, EXITED, "memory hog exits")
    tap.is_(st.reason, "OOMKilled", "reason OOMKilled")
    tap.is_(st.exit_code, 137, "exit code 137: the shell was killed by SIGKILL")
    tap.ok(wait_for(lambda: gone_everywhere(cg)),
           "an exited container's cgroup is removed, with the pipeline left in it killed")
    c.call("RemoveContainer", container_id=ctr)

    ctr = pod.create("fine", image, ["true"], res)
    c.call("StartContainer", container_id=ctr)
    st = wait_state(c, ctr, EXITED)
    tap.is_(st.reason, "Completed", "a container within its limit ends Completed")
    c.call("RemoveContainer", container_id=ctr)


def subdirs(path):
    d = f"{CGROUP}/memory{path}"
    return sorted(e for e in os.listdir(d) if os.path.isdir(os.path.join(d, e)))


def check_errors(c, pod, image, pod_cg, logdir):
    before = subdirs(pod_cg)
    cases = [
        ("unified on v1", c.msg("LinuxContainerResources", unified={"memory.high": "1"}),
         "INVALID_ARGUMENT"),
        ("no such CPU", c.msg("LinuxContainerResources", cpuset_cpus="4095"), "INVALID_ARGUMENT"),
        ("unmounted hugetlb",
         c.msg("LinuxContainerResources",
               hugepage_limits=[c.msg("HugepageLimit", page_size="2MB", limit=2 * MIB)]),
         "FAILED_PRECONDITION"),
        ("swap below memory", c.msg("LinuxContainerResources", memory_limit_in_bytes=64 * MIB,
                                    memory_swap_limit_in_bytes=32 * MIB), "INVALID_ARGUMENT"),
    ]
    for name, res, code in cases:
        cri.expect_error(pod.create, code, "bad-" + name.replace(" ", "-"), image, ["true"], res)
        tap.is_(subdirs(pod_cg), before, f"{name}: rejected with {code}, no cgroup left")
    tap.is_(len(c.call("ListContainers").containers), 1, "no container record is left")

    cri.expect_error(Pod, "INVALID_ARGUMENT", c, "badparent", logdir, f"{PARENT}/../escape")
    tap.ok(not os.path.exists(f"{CGROUP}/memory/escape"), "a '..' parent creates nothing")


def body():
    if not os.path.isfile(f"{CGROUP}/memory/memory.oom_control"):
        tap.skip_all("needs cgroup v1 with the memory controller at /sys/fs/cgroup/memory")
    logdir = tempfile.mkdtemp(prefix="crisp-logs-")
    with Registry() as reg:
        images.busybox_image(reg, "busybox", "latest")
        image = f"{reg.host}/busybox"
        with Crispd(registries=[reg]) as d, d.client() as c:
            tap.is_(c.call("RuntimeConfig").linux.cgroup_driver, 1,
                    "RuntimeConfig reports CGROUPFS by default")
            c.call("PullImage", image=c.msg("ImageSpec", image=image), rpc_timeout=120)
            parent = f"{PARENT}/kubepods/burstable/pod123"
            pod = Pod(c, "main", logdir, parent)
            pod_cg = f"{parent}/{pod.id}"
            check_pod(c, pod, pod_cg)
            ctr, cg = check_limits(c, pod, image, pod_cg)
            check_update(c, ctr, cg)
            check_defaults(c, pod, image, pod_cg)
            check_oom(c, pod, image, pod_cg)
            check_errors(c, pod, image, pod_cg, logdir)

            c.call("StopPodSandbox", pod_sandbox_id=pod.id)
            tap.ok(wait_for(lambda: gone_everywhere(cg)),
                   "a container stopped with its pod loses its cgroup")
            tap.ok(exists("memory", pod_cg), "StopPodSandbox keeps the pod cgroup")
            c.call("RemovePodSandbox", pod_sandbox_id=pod.id)
            tap.ok(wait_for(lambda: gone_everywhere(pod_cg)), "RemovePodSandbox removes the pod cgroup")

            default_pod = Pod(c, "default", logdir)
            tap.ok(exists("memory", f"/crisp/{default_pod.id}"), "default parent is /crisp")
            c.call("RemovePodSandbox", pod_sandbox_id=default_pod.id)
            tap.ok(wait_for(lambda: gone_everywhere(f"/crisp/{default_pod.id}")),
                   "default pod cgroup removed")

        config = os.path.join(logdir, "crisp.json")
        with open(config, "w") as f:
            json.dump({"cgroup_driver": "systemd", "pids_limit": 100}, f)
        with Crispd(registries=[reg], extra_args=["--config", config]) as d, d.client() as c:
            tap.is_(c.call("RuntimeConfig").linux.cgroup_driver, 0,
                    "RuntimeConfig reports SYSTEMD when configured")
            c.call("PullImage", image=c.msg("ImageSpec", image=image), rpc_timeout=120)
            pod = Pod(c, "slice", logdir, f"{SLICE_PREFIX}-pod1.slice")
            pod_cg = f"/{SLICE_PREFIX}.slice/{SLICE_PREFIX}-pod1.slice/{pod.id}"
            tap.ok(exists("memory", pod_cg), f"slice parent maps to {pod_cg}")
            ctr = pod.create("pids", image, ["sleep", "1000"])
            tap.is_(read("pids", f"{pod_cg}/{ctr}", "pids.max"), "100", "pids_limit sets pids.max")
            cri.expect_error(Pod, "INVALID_ARGUMENT", c, "pathparent", logdir, "/kubepods/x")
            c.call("RemovePodSandbox", pod_sandbox_id=pod.id)
            tap.ok(wait_for(lambda: gone_everywhere(pod_cg)), "slice pod cgroup removed")

    for root, dirs, files in os.walk(logdir, topdown=False):
        for name in files:
            os.unlink(os.path.join(root, name))
        for name in dirs:
            os.rmdir(os.path.join(root, name))
    os.rmdir(logdir)
    for ctl in os.listdir(CGROUP):
        for top in (PARENT, f"/{SLICE_PREFIX}.slice"):
            for root, dirs, _ in os.walk(f"{CGROUP}/{ctl}{top}", topdown=False):
                for name in dirs:
                    os.rmdir(os.path.join(root, name))
            if os.path.isdir(f"{CGROUP}/{ctl}{top}"):
                os.rmdir(f"{CGROUP}/{ctl}{top}")


tap.run(body)
