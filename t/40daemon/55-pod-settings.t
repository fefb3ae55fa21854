#!/usr/bin/python3
"""Pod settings as a container sees them: resolv.conf from the DNS config, the hosts and hostname
files, the pod's shared /dev/shm and sysctls; invalid sysctls fail RunPodSandbox cleanly."""

import os
import re
import socket
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))

import cri  # noqa: E402
import images  # noqa: E402
import tap  # noqa: E402
from daemon import Crispd, leftovers  # noqa: E402
from registry import Registry  # noqa: E402

LOG_LINE = re.compile(r"^\S+ (stdout|stderr) ([FP]) (.*)$")
EXITED = 2
NODE = 2
SHM_SIZE = "size=65536k"
# Print each file between markers, then the mountinfo lines of the pod's mounts.
SHOW = ("echo '--resolv'; cat /etc/resolv.conf; echo '--hosts'; cat /etc/hosts; "
        "echo '--hostname'; cat /etc/hostname; echo '--mounts'; "
        "grep -E ' /(dev/shm|etc/hosts|etc/hostname|etc/resolv.conf) ' /proc/self/mountinfo; "
        "echo '--end'")


def read(path):
    with open(path) as f:
        return f.read()


def section(lines, name):
    """Return the lines between '--name' and the next '--' marker."""
    start = lines.index(f"--{name}") + 1
    end = next(i for i in range(start, len(lines)) if lines[i].startswith("--"))
    return lines[start:end]


def mount_line(lines, target):
    """Return (mount options, super options) of the mountinfo line for target, or None."""
    for line in section(lines, "mounts"):
        fields = line.split(" ")
        if fields[4] == target:
            sep = fields.index("-")
            return fields[5].split(","), fields[sep + 1], fields[sep + 3].split(",")
    return None


def mounted(path):
    real = os.path.realpath(path)
    with open("/proc/self/mountinfo") as f:
        return any(line.split(" ")[4] == real for line in f)


def body():
    logdir = tempfile.mkdtemp(prefix="crisp-logs-")
    host_resolv = read("/etc/resolv.conf").splitlines()
    host_hosts = read("/etc/hosts").splitlines()
    host_name = socket.gethostname()
    host_shm_file = tempfile.NamedTemporaryFile(dir="/dev/shm", prefix="crisp-t-", mode="w")
    host_shm_file.write("from the host\n")
    host_shm_file.flush()

    with Registry() as reg:
        images.busybox_image(reg, "pod", "latest")
        image = f"{reg.host}/pod"

        with Crispd(registries=[reg]) as d, d.client() as c:
            c.call("PullImage", image=c.msg("ImageSpec", image=image), rpc_timeout=120)
            pods_dir = os.path.join(d.state_dir, "pods")

            def pod_config(name, hostname="", dns=None, sysctls=None, host=False):
                ns = c.msg("NamespaceOption", network=NODE, ipc=NODE) if host else None
                return c.msg("PodSandboxConfig",
                             metadata=c.msg("PodSandboxMetadata", name=name, namespace="ns",
                                            uid=name),
                             hostname=hostname, log_directory=logdir, dns_config=dns,
                             linux=c.msg("LinuxPodSandboxConfig", sysctls=sysctls or {},
                                         security_context=c.msg("LinuxSandboxSecurityContext",
                                                                namespace_options=ns)))

            def run(pod, pod_cfg, name, script, readonly=False, mounts=()):
                sc = c.msg("LinuxContainerSecurityContext", readonly_rootfs=readonly)
                cfg = c.msg("ContainerConfig", metadata=c.msg("ContainerMetadata", name=name),
                            image=c.msg("ImageSpec", image=image), command=["sh", "-c", script],
                            log_path=f"{pod[:12]}-{name}.log", mounts=list(mounts),
                            linux=c.msg("LinuxContainerConfig", security_context=sc))
                ctr = c.call("CreateContainer", pod_sandbox_id=pod, config=cfg,
                             sandbox_config=pod_cfg).container_id
                c.call("StartContainer", container_id=ctr)
                for _ in range(300):
                    st = c.call("ContainerStatus", container_id=ctr).status
                    if st.state == EXITED:
                        break
                    time.sleep(0.1)
                tap.is_(st.exit_code, 0, f"{name} exits 0")
                with open(st.log_path) as f:
                    return [m.group(3) for m in (LOG_LINE.match(l.rstrip("\n")) for l in f)
                            if m and m.group(1) == "stdout"]

            # A pod with a DNS config, a hostname and namespaced sysctls.
            dns = c.msg("DNSConfig", servers=["10.96.0.10", "fd00::a"],
                        searches=["ns.svc.cluster.local", "cluster.local"],
                        options=["ndots:5", "timeout:2"])
            sysctls = {"kernel.shm_rmid_forced": "1", "kernel.msgmax": "16384",
                       "fs.mqueue.msg_max": "20", "net.ipv4.ip_unprivileged_port_start": "80"}
            a_cfg = pod_config("a", hostname="pod-a", dns=dns, sysctls=sysctls)
            a = c.call("RunPodSandbox", config=a_cfg).pod_sandbox_id
            a_shm = os.path.join(pods_dir, a, "shm")
            tap.ok(mounted(a_shm), "pod a: its /dev/shm tmpfs is mounted in its state dir")

            lines = run(a, a_cfg, "show", SHOW + "; echo shared > /dev/shm/note; "
                        "sysctl -n kernel.shm_rmid_forced kernel.msgmax fs.mqueue.msg_max "
                        "net.ipv4.ip_unprivileged_port_start")
            tap.is_(section(lines, "resolv"),
                    ["search ns.svc.cluster.local cluster.local", "nameserver 10.96.0.10",
                     "nameserver fd00::a", "options ndots:5 timeout:2"],
                    "pod a: resolv.conf from the DNS config")
            tap.is_(section(lines, "hosts"), host_hosts, "pod a: /etc/hosts is the host's copy")
            tap.is_(section(lines, "hostname"), ["pod-a"], "pod a: /etc/hostname is the pod's")
            shm = mount_line(lines, "/dev/shm")
            tap.ok(shm is not None, "pod a: /dev/shm is a mount")
            if shm:
                tap.is_(shm[1], "tmpfs", "pod a: /dev/shm is a tmpfs")
                tap.ok(SHM_SIZE in shm[2], f"pod a: /dev/shm has {SHM_SIZE} ({shm[2]})")
                tap.ok("rw" in shm[0], "pod a: /dev/shm is writable")
                tap.ok({"nosuid", "nodev", "noexec"} <= set(shm[0]),
                       f"pod a: /dev/shm is nosuid, nodev, noexec ({shm[0]})")
            for target in ("/etc/hosts", "/etc/hostname", "/etc/resolv.conf"):
                m = mount_line(lines, target)
                tap.ok(m is not None and "rw" in m[0],
                       f"pod a: {target} is bound read-write ({m and m[0]})")
            tap.is_(lines[-4:], ["1", "16384", "20", "80"],
                    "pod a: sysctls are set in the pod's IPC and network namespaces")
            tap.is_(read(os.path.join(a_shm, "note")), "shared\n",
                    "pod a: a /dev/shm file lands in the pod's tmpfs")

            lines = run(a, a_cfg, "reader", "cat /dev/shm/note")
            tap.is_(lines, ["shared"], "pod a: another container reads the first one's file")

            lines = run(a, a_cfg, "readonly", SHOW + "; (echo x >> /etc/hosts) 2>&1; true",
                        readonly=True)
            for target in ("/etc/hosts", "/etc/hostname", "/etc/resolv.conf"):
                m = mount_line(lines, target)
                tap.ok(m is not None and "ro" in m[0],
                       f"pod a: {target} is read-only with readonly_rootfs ({m and m[0]})")
            m = mount_line(lines, "/dev/shm")
            tap.ok(m is not None and "rw" in m[0],
                   "pod a: /dev/shm stays writable with readonly_rootfs")
            tap.ok(any("Read-only" in l for l in lines[lines.index("--end"):]),
                   "pod a: writing /etc/hosts fails with readonly_rootfs")

            # A container that mounts its own /etc/hosts keeps it, as kubelet's mount does.
            own = os.path.join(logdir, "own-hosts")
            with open(own, "w") as f:
                f.write("10.1.2.3 own\n")
            lines = run(a, a_cfg, "ownhosts", "cat /etc/hosts",
                        mounts=[c.msg("Mount", host_path=own, container_path="/etc/hosts",
                                      readonly=True)])
            tap.is_(lines, ["10.1.2.3 own"], "pod a: a requested /etc/hosts mount wins")

            # Defaults: no DNS config, no hostname, no sysctls.
            b_cfg = pod_config("b")
            b = c.call("RunPodSandbox", config=b_cfg).pod_sandbox_id
            lines = run(b, b_cfg, "show", SHOW + "; sysctl -n kernel.shm_rmid_forced; "
                        "cat /dev/shm/note 2>/dev/null || echo no-note")
            tap.is_(section(lines, "resolv"), host_resolv,
                    "pod b: no DNS config copies the host's resolv.conf")
            tap.is_(section(lines, "hosts"), host_hosts, "pod b: /etc/hosts is the host's copy")
            tap.is_(section(lines, "hostname"), [host_name],
                    "pod b: no hostname gives the host's in /etc/hostname")
            shm = mount_line(lines, "/dev/shm")
            tap.ok(shm is not None and shm[1] == "tmpfs" and SHM_SIZE in shm[2],
                   f"pod b: /dev/shm is a tmpfs of its own with {SHM_SIZE}")
            tap.is_(lines[-2], "0", "pod b: kernel.shm_rmid_forced keeps its default")
            tap.is_(lines[-1], "no-note", "pod b: pod a's /dev/shm is not shared with it")

            # Host network and IPC: the host's /dev/shm, no tmpfs of the pod's own.
            h_cfg = pod_config("h", host=True)
            h = c.call("RunPodSandbox", config=h_cfg).pod_sandbox_id
            tap.ok(not os.path.exists(os.path.join(pods_dir, h, "shm")),
                   "pod h: no shm directory with host IPC")
            lines = run(h, h_cfg, "show", SHOW + "; cat /dev/shm/" +
                        os.path.basename(host_shm_file.name))
            tap.is_(section(lines, "hostname"), [host_name], "pod h: /etc/hostname is the host's")
            tap.is_(section(lines, "resolv"), host_resolv, "pod h: resolv.conf is the host's")
            tap.is_(lines[-1], "from the host", "pod h: /dev/shm is the host's")

            # Invalid sysctls fail RunPodSandbox and leave nothing behind.
            pods_before = sorted(os.listdir(pods_dir))
            mounts_before = leftovers(d.tmpdir)
            cases = [
                ("not-namespaced", {"kernel.pid_max": "4096"}, False,
                 "sysctl 'kernel.pid_max' is not in a separate kernel namespace"),
                ("vm", {"vm.swappiness": "10"}, False, "'vm.swappiness'"),
                ("hostname", {"kernel.hostname": "x"}, False, "'kernel.hostname'"),
                ("host-net", {"net.ipv4.ip_forward": "1"}, True,
                 "sysctl 'net.ipv4.ip_forward' is not allowed in the host's network namespace"),
                ("host-ipc", {"kernel.shmmax": "1000000"}, True,
                 "sysctl 'kernel.shmmax' is not allowed in the host's IPC namespace"),
                ("unknown", {"net.ipv4.no_such_setting": "1"}, False,
                 "'net.ipv4.no_such_setting'"),
                ("bad-value", {"kernel.shm_rmid_forced": "many"}, False,
                 "'kernel.shm_rmid_forced'"),
                ("traversal", {"net/../../../etc/passwd": "x"}, False,
                 "'net/../../../etc/passwd'"),
            ]
            for name, bad, host, text in cases:
                details = cri.expect_error(c.call, "INVALID_ARGUMENT", "RunPodSandbox",
                                           config=pod_config(name, sysctls=bad, host=host))
                tap.ok(text in details, f"{name}: INVALID_ARGUMENT says {text!r} ({details})")
            tap.is_(len(c.call("ListPodSandbox").items), 3, "no pod record is left")
            tap.is_(sorted(os.listdir(pods_dir)), pods_before, "no pod state directory is left")
            tap.is_(leftovers(d.tmpdir), mounts_before, "no mount is left")

            # The pod's /dev/shm goes at StopPodSandbox, its directory at RemovePodSandbox.
            c.call("StopPodSandbox", pod_sandbox_id=a)
            tap.ok(not mounted(a_shm), "pod a: /dev/shm is unmounted after StopPodSandbox")
            c.call("RemovePodSandbox", pod_sandbox_id=a)
            tap.ok(not os.path.exists(os.path.join(pods_dir, a)),
                   "pod a: state dir is removed after RemovePodSandbox")
            for pod in (b, h):
                c.call("StopPodSandbox", pod_sandbox_id=pod)
                c.call("RemovePodSandbox", pod_sandbox_id=pod)
            tap.is_(leftovers(d.tmpdir), [], "no mounts are left")

    host_shm_file.close()
    for name in os.listdir(logdir):
        path = os.path.join(logdir, name)
        if os.path.isdir(path):
            for sub in os.listdir(path):
                os.unlink(os.path.join(path, sub))
            os.rmdir(path)
        else:
            os.unlink(path)
    os.rmdir(logdir)


tap.run(body)
