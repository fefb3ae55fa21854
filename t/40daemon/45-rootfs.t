#!/usr/bin/python3
"""What a container sees: layered rootfs with whiteouts, mounts, namespaces, user."""

import json
import os
import shutil
import re
import io
import sys
import tarfile
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))

import images  # noqa: E402
import tap  # noqa: E402
from daemon import Crispd, leftovers  # noqa: E402
from registry import Registry  # noqa: E402

LOG_LINE = re.compile(r"^\S+ (stdout|stderr) ([FP]) (.*)$")
EXITED = 2


def tar_with(*members):
    """An uncompressed tar holding the given TarInfo members without data."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for member in members:
            tar.addfile(member)
    return buf.getvalue()


def output(c, ctr):
    """Wait for the container to exit (bounded poll) and return its stdout lines."""
    for _ in range(300):
        st = c.call("ContainerStatus", container_id=ctr).status
        if st.state == EXITED:
            break
        time.sleep(0.1)
    tap.is_(st.exit_code, 0, f"{st.metadata.name} exits 0")
    with open(st.log_path) as f:
        return [m.group(3) for m in (LOG_LINE.match(l.rstrip("\n")) for l in f) if m and m.group(1) == "stdout"]


def body():
    logdir = tempfile.mkdtemp(prefix="crisp-logs-")
    hostdir = tempfile.mkdtemp(prefix="crisp-bind-")
    with open(os.path.join(hostdir, "from-host"), "w") as f:
        f.write("host file\n")

    with Registry() as reg:
        upper = [
            images.whiteout("etc/group"),
            images.opaque_whiteout("data"),
            images.regular("data/new", b"new\n"),
            images.regular("app/hello.txt", b"hello from layer 2\n", mode=0o604, uid=7, gid=8),
            images.symlink("app/link", "hello.txt"),
        ]
        lower = [images.directory("data"), images.regular("data/old", b"old\n"),
                 images.regular("app/readme", b"readme\n")]
        # A device node in a layer (here 1:3, the host's /dev/null) must not open.
        device = tarfile.TarInfo("dev-in-image")
        device.type, device.devmajor, device.devminor, device.mode = tarfile.CHRTYPE, 1, 3, 0o666
        devlayer = images.Layer(tar_with(device))
        images.busybox_image(reg, "layered", "latest", extra_layers=[lower, upper, devlayer],
                             config_overrides={"WorkingDir": "/app", "User": "nobody",
                                               "Env": [images.DEFAULT_PATH, "FROM_IMAGE=yes"]})
        image = f"{reg.host}/layered"

        with Crispd(registries=[reg]) as d, d.client() as c:
            c.call("PullImage", image=c.msg("ImageSpec", image=image), rpc_timeout=120)
            pod_cfg = c.msg("PodSandboxConfig",
                            metadata=c.msg("PodSandboxMetadata", name="fs", namespace="ns", uid="u"),
                            hostname="fs-host", log_directory=logdir)
            pod = c.call("RunPodSandbox", config=pod_cfg).pod_sandbox_id
            pause = json.loads(c.call("PodSandboxStatus", pod_sandbox_id=pod,
                                      verbose=True).info["info"])["pid"]

            def create(name, script, **kw):
                cfg = c.msg("ContainerConfig", metadata=c.msg("ContainerMetadata", name=name),
                            image=c.msg("ImageSpec", image=image), command=["sh", "-c", script],
                            log_path=f"{name}.log", **kw)
                return c.call("CreateContainer", pod_sandbox_id=pod, config=cfg,
                              sandbox_config=pod_cfg).container_id

            ctr = create("layers", "ls /data; cat /app/link; stat -c '%a %u %g' /app/hello.txt; "
                         "test -e /etc/group || echo no-group; pwd; id -u; echo $FROM_IMAGE; "
                         "test -c /dev-in-image && (echo x > /dev-in-image) 2>/dev/null "
                         "|| echo device-denied")
            c.call("StartContainer", container_id=ctr)
            tap.is_(output(c, ctr), ["new", "hello from layer 2", "604 7 8", "no-group",
                                     "/app", "65534", "yes", "device-denied"],
                    "opaque dir, whiteout, symlink, owner, workdir, user, env, image device")

            # In mountinfo the file system type is the field after the "-" separator.
            link = hostdir + "-link"
            os.symlink(hostdir, link)
            ctr = create("mounts", "awk '{for (i = 7; i <= NF; i++) if ($i == \"-\") "
                         "{print $5, $(i + 1); break}}' /proc/self/mountinfo; "
                         "cat /mnt/host/from-host; touch /mnt/host/x 2>/dev/null || echo read-only; "
                         "cat /mnt/link/from-host; echo DEV $(ls /dev | sort | tr '\\n' ' ')",
                         mounts=[c.msg("Mount", host_path=hostdir, container_path="/mnt/host",
                                       readonly=True),
                                 c.msg("Mount", host_path=link, container_path="/mnt/link",
                                       readonly=True)],
                         linux=c.msg("LinuxContainerConfig", security_context=c.msg(
                             "LinuxContainerSecurityContext", run_as_user=c.msg("Int64Value", value=0))))
            c.call("StartContainer", container_id=ctr)
            lines = output(c, ctr)
            fstypes = dict(line.split(" ", 1) for line in lines if line.startswith("/"))
            for path, fstype in (("/", "overlay"), ("/proc", "proc"), ("/dev", "tmpfs"),
                                 ("/dev/pts", "devpts"), ("/dev/shm", "tmpfs"), ("/sys", "sysfs"),
                                 ("/dev/mqueue", "mqueue")):
                tap.is_(fstypes.get(path), fstype, f"{path} is mounted as {fstype}")
            tap.ok("host file" in lines, "bind mount shows the host file")
            tap.ok("read-only" in lines, "readonly bind mount rejects writes")
            tap.is_(lines.count("host file"), 2, "a host path that is a symlink is followed")
            dev = next((line for line in lines if line.startswith("DEV ")), "").split()[1:]
            tap.is_(sorted(set(dev) & {"null", "zero", "full", "random", "urandom", "tty", "ptmx",
                                       "pts", "shm", "mqueue", "fd", "stdin", "stdout", "stderr"}),
                    sorted({"null", "zero", "full", "random", "urandom", "tty", "ptmx", "pts",
                            "shm", "mqueue", "fd", "stdin", "stdout", "stderr"}),
                    f"the default /dev set is there ({' '.join(dev)})")

            ctr = create("sleeper", "sleep 1000")
            c.call("StartContainer", container_id=ctr)
            pid = json.loads(c.call("ContainerStatus", container_id=ctr,
                                    verbose=True).info["info"])["pid"]
            for kind in ("net", "ipc", "uts", "pid"):
                tap.is_(os.readlink(f"/proc/{pid}/ns/{kind}"), os.readlink(f"/proc/{pause}/ns/{kind}"),
                        f"container shares the pod's {kind} namespace")
            tap.ok(os.readlink(f"/proc/{pid}/ns/mnt") != os.readlink(f"/proc/{pause}/ns/mnt"),
                   "container has its own mount namespace")
            c.call("StopContainer", container_id=ctr, timeout=0)

            c.call("StopPodSandbox", pod_sandbox_id=pod)
            c.call("RemovePodSandbox", pod_sandbox_id=pod)
            tap.is_(leftovers(d.tmpdir), [], "no mounts are left")
            tap.is_(os.listdir(hostdir), ["from-host"], "nothing was written to the bind mount")

    for directory in (logdir, hostdir):

        shutil.rmtree(directory)


tap.run(body)
