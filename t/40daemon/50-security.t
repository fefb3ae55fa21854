#!/usr/bin/python3
"""What a container sees of its confinement: capabilities, seccomp, no_new_privs, user and
groups, masked and read-only paths, devices, RLIMIT_NOFILE and the OOM score."""

import json
import os
import re
import resource
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))

import images  # noqa: E402
import tap  # noqa: E402
from daemon import Crispd, leftovers  # noqa: E402
from registry import Registry  # noqa: E402

LOG_LINE = re.compile(r"^\S+ (stdout|stderr) ([FP]) (.*)$")
EXITED = 2
DEFAULT_CAPS = "00000000a80425fb"
STATUS = "grep -E '^(CapInh|CapPrm|CapEff|CapBnd|CapAmb|NoNewPrivs|Seccomp):' /proc/self/status"
PROFILE = {"defaultAction": "SCMP_ACT_ALLOW",
           "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO",
                         "errnoRet": 13}]}


def output(c, ctr):
    """Wait for the container to exit (bounded poll) and return its stdout lines."""
    for _ in range(300):
        st = c.call("ContainerStatus", container_id=ctr).status
        if st.state == EXITED:
            break
        time.sleep(0.1)
    tap.is_(st.exit_code, 0, f"{st.metadata.name} exits 0")
    with open(st.log_path) as f:
        return [m.group(3) for m in (LOG_LINE.match(l.rstrip("\n")) for l in f)
                if m and m.group(1) == "stdout"]


def status_fields(lines):
    return dict(line.split(":\t", 1) for line in lines if ":\t" in line)


def own_caps(field):
    with open("/proc/self/status") as f:
        return status_fields(f.read().splitlines())[field]


def body():
    logdir = tempfile.mkdtemp(prefix="crisp-logs-")
    profile_dir = tempfile.mkdtemp(prefix="crisp-seccomp-")
    profile = os.path.join(profile_dir, "mkdir-eacces.json")
    with open(profile, "w") as f:
        json.dump(PROFILE, f)
    config = os.path.join(profile_dir, "crisp.json")
    with open(config, "w") as f:
        json.dump({"rlimit_nofile": 4096}, f)
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]

    with Registry() as reg:
        images.busybox_image(reg, "sec", "latest", extra_layers=[[
            images.regular("etc/group", "root:x:0:\nwheel:x:10:root,nobody\nstaff:x:50:nobody\n"
                                        "nobody:x:65534:\n")]])
        image = f"{reg.host}/sec"

        with Crispd(registries=[reg]) as d, d.client() as c:
            c.call("PullImage", image=c.msg("ImageSpec", image=image), rpc_timeout=120)
            pod_cfg = c.msg("PodSandboxConfig",
                            metadata=c.msg("PodSandboxMetadata", name="sec", namespace="ns",
                                           uid="u"),
                            hostname="sec-host", log_directory=logdir,
                            linux=c.msg("LinuxPodSandboxConfig", security_context=c.msg(
                                "LinuxSandboxSecurityContext", privileged=True)))
            pod = c.call("RunPodSandbox", config=pod_cfg).pod_sandbox_id

            def run(name, script, sc=None, resources=None, **kw):
                linux = c.msg("LinuxContainerConfig",
                              security_context=sc or c.msg("LinuxContainerSecurityContext"),
                              resources=resources)
                cfg = c.msg("ContainerConfig", metadata=c.msg("ContainerMetadata", name=name),
                            image=c.msg("ImageSpec", image=image), command=["sh", "-c", script],
                            log_path=f"{name}.log", linux=linux, **kw)
                ctr = c.call("CreateContainer", pod_sandbox_id=pod, config=cfg,
                             sandbox_config=pod_cfg).container_id
                c.call("StartContainer", container_id=ctr)
                return output(c, ctr)

            def sc(**kw):
                return c.msg("LinuxContainerSecurityContext", **kw)

            # Defaults: containerd's 14 capabilities, no seccomp profile sent means unconfined.
            lines = run("defaults", f"{STATUS}; id; ulimit -n; cat /proc/self/oom_score_adj")
            st = status_fields(lines)
            for field in ("CapPrm", "CapEff", "CapBnd"):
                tap.is_(st.get(field), DEFAULT_CAPS, f"default {field} is containerd's set")
            tap.is_(st.get("CapInh"), "0000000000000000", "default CapInh is empty")
            tap.is_(st.get("CapAmb"), "0000000000000000", "default CapAmb is empty")
            tap.is_(st.get("NoNewPrivs"), "0", "default NoNewPrivs is 0")
            tap.is_(st.get("Seccomp"), "0", "no seccomp profile sent: unconfined")
            tap.ok("uid=0(root) gid=0(root) groups=0(root),10(wheel)" in lines,
                   "root gets its groups from the image's /etc/group")
            tap.ok(str(min(1048576, hard)) in lines,
                   f"default RLIMIT_NOFILE is min(1048576, {hard})")

            # Add and drop by name, RuntimeDefault seccomp, no_new_privs.
            lines = run("confined", f"{STATUS}; unshare -n true 2>/dev/null || echo no-unshare",
                        sc(capabilities=c.msg("Capability", add_capabilities=["net_admin"],
                                              drop_capabilities=["CAP_CHOWN", "Net_Raw"]),
                           no_new_privs=True,
                           seccomp=c.msg("SecurityProfile", profile_type=0)))
            st = status_fields(lines)
            expected = f"{(0xa80425fb | (1 << 12)) & ~1 & ~(1 << 13):016x}"
            tap.is_(st.get("CapBnd"), expected, "CapBnd has NET_ADMIN, lacks CHOWN and NET_RAW")
            tap.is_(st.get("CapEff"), expected, "CapEff equals CapBnd for root")
            tap.is_(st.get("NoNewPrivs"), "1", "no_new_privs is set")
            tap.is_(st.get("Seccomp"), "2", "RuntimeDefault installs a seccomp filter")
            tap.ok("no-unshare" in lines, "RuntimeDefault rejects unshare")

            lines = run("dropall", STATUS, sc(capabilities=c.msg(
                "Capability", drop_capabilities=["ALL"], add_capabilities=["KILL"])))
            tap.is_(status_fields(lines).get("CapBnd"), f"{1 << 5:016x}", "drop ALL, add KILL")

            # Localhost profile and the deprecated string field.
            lines = run("localhost", f"{STATUS}; mkdir /tmp/d 2>&1 || true",
                        sc(seccomp=c.msg("SecurityProfile", profile_type=2,
                                         localhost_ref=profile)))
            tap.is_(status_fields(lines).get("Seccomp"), "2", "Localhost profile is loaded")
            tap.ok(any("Permission denied" in l for l in lines),
                   "Localhost profile makes mkdir fail with EACCES")
            lines = run("oldfield", "mkdir /tmp/d 2>&1 || true",
                        sc(seccomp_profile_path=f"localhost/{profile}"))
            tap.ok(any("Permission denied" in l for l in lines),
                   "seccomp_profile_path localhost/<path> loads the same profile")
            lines = run("unconfined", STATUS, sc(seccomp_profile_path="unconfined"))
            tap.is_(status_fields(lines).get("Seccomp"), "0", "unconfined loads no filter")

            # A non-root user: no effective capabilities unless ambient.
            lines = run("nobody", f"{STATUS}; id -G",
                        sc(run_as_user=c.msg("Int64Value", value=65534),
                           supplemental_groups=[1234]))
            st = status_fields(lines)
            tap.is_(st.get("CapBnd"), DEFAULT_CAPS, "non-root CapBnd is the default set")
            tap.is_(st.get("CapEff"), "0000000000000000", "non-root CapEff is empty")
            tap.is_(st.get("CapPrm"), "0000000000000000", "non-root CapPrm is empty")
            # run_as_user without run_as_group: the group of that uid's /etc/passwd entry.
            tap.ok("65534 10 50 1234" in lines,
                   "groups: passwd primary, the image's /etc/group members, supplemental_groups")
            lines = run("ambient", STATUS,
                        sc(run_as_user=c.msg("Int64Value", value=65534),
                           capabilities=c.msg("Capability",
                                              add_ambient_capabilities=["NET_BIND_SERVICE"])))
            st = status_fields(lines)
            for field in ("CapAmb", "CapEff", "CapPrm", "CapInh"):
                tap.is_(st.get(field), f"{1 << 10:016x}", f"ambient NET_BIND_SERVICE in {field}")

            # Masked and read-only paths: the defaults, then a list as sent.
            # A masked file is /dev/null bound over it; a masked directory an empty tmpfs.
            lines = run("masked", "stat -c %F /proc/keys; "
                        "(echo 1 > /proc/sys/vm/overcommit_memory) 2>&1; "
                        "ls /sys/firmware | wc -l; touch /rootfs-file 2>&1; true",
                        sc(readonly_rootfs=True))
            tap.is_(lines[0], "character special file", "/proc/keys is masked by /dev/null")
            tap.ok(any("overcommit_memory" in l and "Read-only" in l for l in lines),
                   "/proc/sys is read-only")
            tap.is_(lines[2:3], ["0"], "/sys/firmware is an empty tmpfs")
            tap.ok(any("rootfs-file" in l and "Read-only" in l for l in lines),
                   "readonly_rootfs rejects writes to /")
            lines = run("masklist", "stat -c %F /proc/keys /proc/uptime; "
                        "(touch /etc/x) 2>&1; true",
                        sc(masked_paths=["/proc/uptime"], readonly_paths=["/etc"]))
            tap.is_(lines[:2], ["regular empty file", "character special file"],
                    "masked_paths as sent replace the defaults")
            tap.ok(any("/etc/x" in l and "Read-only" in l for l in lines),
                   "readonly_paths as sent")

            # Devices, oom_score_adj.
            lines = run("devices", "stat -c '%F %t %T' /dev/xnull",
                        devices=[c.msg("Device", host_path="/dev/null",
                                       container_path="/dev/xnull", permissions="rwm")])
            tap.is_(lines, ["character special file 1 3"], "device node is created")
            res = c.msg("LinuxContainerResources", oom_score_adj=500)
            tap.is_(run("oom", "cat /proc/self/oom_score_adj", resources=res), ["500"],
                    "oom_score_adj is written")
            res = c.msg("LinuxContainerResources", oom_score_adj=-500)
            with open("/proc/self/oom_score_adj") as f:
                own = f.read().strip()
            tap.is_(run("oomneg", "cat /proc/self/oom_score_adj", resources=res), [own],
                    "negative oom_score_adj is clamped to crispd's own")

            # Privileged: crispd's own capabilities, no seccomp, read-write /sys, host devices.
            host_dev = next(n for n in sorted(os.listdir("/dev"))
                            if n not in ("null", "zero", "full", "random", "urandom", "tty")
                            and os.path.exists(f"/dev/{n}") and not os.path.islink(f"/dev/{n}")
                            and (os.stat(f"/dev/{n}").st_mode & 0o170000) in (0o020000, 0o060000))
            lines = run("privileged",
                        f"{STATUS}; awk '$5 == \"/sys\" {{print $6}}' /proc/self/mountinfo; "
                        f"test -e /dev/{host_dev} && echo has-dev; stat -c %F /proc/keys",
                        sc(privileged=True, seccomp=c.msg("SecurityProfile", profile_type=0)))
            st = status_fields(lines)
            tap.is_(st.get("CapBnd"), own_caps("CapEff"), "privileged CapBnd is crispd's set")
            tap.is_(st.get("Seccomp"), "0", "privileged has no seccomp filter")
            tap.ok(any(l.startswith("rw") for l in lines), "privileged /sys is read-write")
            tap.ok("has-dev" in lines, f"privileged sees host device /dev/{host_dev}")
            tap.ok("regular empty file" in lines, "privileged has no masked paths")

            c.call("StopPodSandbox", pod_sandbox_id=pod)
            c.call("RemovePodSandbox", pod_sandbox_id=pod)
            tap.is_(leftovers(d.tmpdir), [], "no mounts are left")

        with Crispd(registries=[reg], extra_args=["--config", config]) as d, d.client() as c:
            c.call("PullImage", image=c.msg("ImageSpec", image=image), rpc_timeout=120)
            pod_cfg = c.msg("PodSandboxConfig",
                            metadata=c.msg("PodSandboxMetadata", name="lim", namespace="ns",
                                           uid="u"), log_directory=logdir)
            pod = c.call("RunPodSandbox", config=pod_cfg).pod_sandbox_id
            cfg = c.msg("ContainerConfig", metadata=c.msg("ContainerMetadata", name="nofile"),
                        image=c.msg("ImageSpec", image=image),
                        command=["sh", "-c", "ulimit -n; ulimit -Hn"], log_path="nofile.log")
            ctr = c.call("CreateContainer", pod_sandbox_id=pod, config=cfg,
                         sandbox_config=pod_cfg).container_id
            c.call("StartContainer", container_id=ctr)
            tap.is_(output(c, ctr), ["4096", "4096"], "rlimit_nofile from the config file")
            c.call("StopPodSandbox", pod_sandbox_id=pod)
            c.call("RemovePodSandbox", pod_sandbox_id=pod)

    for directory in (logdir, profile_dir):
        for root, dirs, files in os.walk(directory, topdown=False):
            for name in files:
                os.unlink(os.path.join(root, name))
            for name in dirs:
                os.rmdir(os.path.join(root, name))
        os.rmdir(directory)


tap.run(body)
