#!/usr/bin/python3
"""The device cgroup of a container: containerd's default rules, requested devices with their
permissions, privileged containers, denied access inside the container, and invalid requests.

Runs on cgroup v1 with the devices controller at /sys/fs/cgroup/devices, where devices.list
shows the rules; on cgroup v2 only the access checks inside the container run."""

import os
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

LOG_LINE = re.compile(r"^\S+ (stdout|stderr) ([FP]) (.*)$")
EXITED = 2
DEVICES_V1 = "/sys/fs/cgroup/devices"
DEFAULT_LIST = ["c *:* m", "b *:* m", "c 1:3 rwm", "c 1:5 rwm", "c 1:7 rwm", "c 1:8 rwm",
                "c 1:9 rwm", "c 5:0 rwm", "c 5:1 rwm", "c 5:2 rwm", "c 136:* rwm",
                "c 10:200 rwm"]
# Each check prints "<name>=ok" or "<name>=<error text>".
PROBES = ("try() { if out=$(\"$@\" 2>&1); then echo ok; else echo \"$out\" | tail -n1; fi; }; "
          "echo null=$(try head -c1 /dev/null); "
          "echo zero=$(try dd if=/dev/zero of=/dev/null bs=1 count=1); "
          "mknod /dev/kmsg-node c 1 11 && echo mknod=ok; "
          "echo kmsg-read=$(try dd if=/dev/kmsg-node of=/dev/null bs=1 count=0); ")


def output(c, ctr):
    """Wait for the container to exit (bounded poll) and return its stdout lines."""
    for _ in range(300):
        st = c.call("ContainerStatus", container_id=ctr).status
        if st.state == EXITED:
            break
        time.sleep(0.1)
    with open(st.log_path) as f:
        return [m.group(3) for m in (LOG_LINE.match(l.rstrip("\n")) for l in f)
                if m and m.group(1) == "stdout"]


def devices_list(cgroup):
    with open(os.path.join(DEVICES_V1 + cgroup, "devices.list")) as f:
        return f.read().splitlines()


def body():
    v1 = os.path.isdir(DEVICES_V1)
    if not os.path.exists("/dev/fuse"):
        tap.skip_all("needs /dev/fuse (c 10:229) as the requested device")
    logdir = tempfile.mkdtemp(prefix="crisp-logs-")
    parent = f"/crisp-test-devices-{os.getpid()}"

    with Registry() as reg:
        images.busybox_image(reg, "dev", "latest")
        image = f"{reg.host}/dev"
        with Crispd(registries=[reg]) as d, d.client() as c:
            c.call("PullImage", image=c.msg("ImageSpec", image=image), rpc_timeout=120)
            pod_cfg = c.msg("PodSandboxConfig",
                            metadata=c.msg("PodSandboxMetadata", name="dev", namespace="ns",
                                           uid="u"),
                            log_directory=logdir,
                            linux=c.msg("LinuxPodSandboxConfig", cgroup_parent=parent,
                                        security_context=c.msg("LinuxSandboxSecurityContext",
                                                               privileged=True)))
            pod = c.call("RunPodSandbox", config=pod_cfg).pod_sandbox_id

            def create(name, script, devices=(), privileged=False):
                cfg = c.msg("ContainerConfig", metadata=c.msg("ContainerMetadata", name=name),
                            image=c.msg("ImageSpec", image=image), command=["sh", "-c", script],
                            log_path=f"{name}.log", devices=list(devices),
                            linux=c.msg("LinuxContainerConfig", security_context=c.msg(
                                "LinuxContainerSecurityContext", privileged=privileged)))
                return c.call("CreateContainer", pod_sandbox_id=pod, config=cfg,
                              sandbox_config=pod_cfg).container_id

            def run(ctr):
                c.call("StartContainer", container_id=ctr)
                return dict(line.split("=", 1) for line in output(c, ctr) if "=" in line)

            # Defaults: the listed devices work, anything else is EPERM; mknod is allowed.
            ctr = create("defaults", PROBES)
            if v1:
                tap.is_(devices_list(f"{parent}/{pod}/{ctr}"), DEFAULT_LIST,
                        "defaults: devices.list is containerd's default set")
            got = run(ctr)
            tap.is_(got.get("null"), "ok", "defaults: /dev/null reads")
            tap.is_(got.get("zero"), "ok", "defaults: /dev/zero copies to /dev/null")
            tap.is_(got.get("mknod"), "ok", "defaults: mknod of c 1:11 is allowed")
            tap.ok("Operation not permitted" in got.get("kmsg-read", ""),
                   f"defaults: reading a c 1:11 node fails with EPERM ({got.get('kmsg-read')})")

            # A requested device with "r": reading works, writing is EPERM.
            fuse = c.msg("Device", host_path="/dev/fuse", container_path="/dev/fuse",
                         permissions="r")
            ctr = create("read-only", "try() { if out=$(\"$@\" 2>&1); then echo ok; else "
                         "echo \"$out\" | tail -n1; fi; }; "
                         "echo read=$(try dd if=/dev/fuse of=/dev/null bs=1 count=0); "
                         "echo write=$(try sh -c ': > /dev/fuse')", devices=[fuse])
            if v1:
                tap.is_(devices_list(f"{parent}/{pod}/{ctr}"), DEFAULT_LIST + ["c 10:229 r"],
                        "read-only: devices.list adds c 10:229 r")
            got = run(ctr)
            tap.is_(got.get("read"), "ok", "read-only: /dev/fuse opens for reading")
            tap.ok("Operation not permitted" in got.get("write", ""),
                   f"read-only: /dev/fuse write fails with EPERM ({got.get('write')})")

            # Privileged: every device.
            ctr = create("privileged", PROBES, privileged=True)
            if v1:
                tap.is_(devices_list(f"{parent}/{pod}/{ctr}"), ["a *:* rwm"],
                        "privileged: devices.list allows every device")
            got = run(ctr)
            tap.is_(got.get("kmsg-read"), "ok", "privileged: a c 1:11 node reads")

            # Invalid requests fail CreateContainer and leave nothing behind.
            before = sorted(os.listdir(os.path.join(d.root, "records", "containers")))
            cases = [
                ("bad-permissions", "config.devices[0].permissions: invalid device permissions "
                 "'rx': only the letters r, w and m are allowed",
                 c.msg("Device", host_path="/dev/null", container_path="/dev/n2",
                       permissions="rx")),
                ("empty-permissions", "config.devices[0].permissions: device permissions are "
                 "empty", c.msg("Device", host_path="/dev/null", container_path="/dev/n2")),
                ("not-a-device", "config.devices[0].host_path '/etc/hostname' is not a "
                 "character or block device",
                 c.msg("Device", host_path="/etc/hostname", container_path="/dev/x",
                       permissions="r")),
            ]
            for name, text, dev in cases:
                details = cri.expect_error(create, "INVALID_ARGUMENT", name, "true",
                                           devices=[dev])
                tap.ok(text in details, f"{name}: INVALID_ARGUMENT says {text!r} ({details})")
            tap.is_(sorted(os.listdir(os.path.join(d.root, "records", "containers"))), before,
                    "invalid requests leave no container directory")
            if v1:
                # The three containers above have exited, which removed their cgroups too.
                left = sorted(e for e in os.listdir(f"{DEVICES_V1}{parent}/{pod}")
                              if os.path.isdir(f"{DEVICES_V1}{parent}/{pod}/{e}"))
                tap.is_(left, [], "invalid requests leave no container cgroup")

            c.call("StopPodSandbox", pod_sandbox_id=pod)
            c.call("RemovePodSandbox", pod_sandbox_id=pod)
            tap.ok(not os.path.exists(f"{DEVICES_V1}{parent}/{pod}"), "pod cgroup is removed")
            tap.is_(leftovers(d.tmpdir), [], "no mounts are left")

    for controller in os.listdir("/sys/fs/cgroup"):
        try:
            os.rmdir(f"/sys/fs/cgroup/{controller}{parent}")
        except OSError:
            pass


tap.run(body)
