#!/usr/bin/python3
"""ImageFsInfo, and RemoveImage of an image a container uses."""

import os
import stat
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))

import images  # noqa: E402
import tap  # noqa: E402
from daemon import Crispd, wait_for  # noqa: E402
from registry import Registry  # noqa: E402


def store_usage(root):
    """Return (bytes, inodes) under root as crispd counts them: st_blocks, each inode once."""
    dev = os.lstat(root).st_dev
    seen = set()
    total_bytes = total_inodes = 0
    for top, dirs, files in os.walk(root):
        for name in [top] + [os.path.join(top, n) for n in dirs + files]:
            st = os.lstat(name)
            if name != top and stat.S_ISDIR(st.st_mode):
                continue  # counted when walked as a top directory
            if st.st_dev != dev:
                continue
            if st.st_nlink > 1 and not stat.S_ISDIR(st.st_mode):
                if (st.st_dev, st.st_ino) in seen:
                    continue
                seen.add((st.st_dev, st.st_ino))
            total_bytes += st.st_blocks * 512
            total_inodes += 1
    return total_bytes, total_inodes


def body():
    with Registry() as reg:
        images.busybox_image(reg, "busybox", "latest", fmt="oci")
        ref = f"{reg.host}/busybox"
        logdir = tempfile.mkdtemp(prefix="crisp-fs-logs-")
        with Crispd(registries=[reg]) as d, d.client() as c:
            c.call("PullImage", image=c.msg("ImageSpec", image=ref), rpc_timeout=120)
            images_root = os.path.join(d.root, "images")
            before = time.time_ns()
            info = c.call("ImageFsInfo")
            after = time.time_ns()
            tap.is_(len(info.image_filesystems), 1, "ImageFsInfo: one image file system")
            tap.is_(len(info.container_filesystems), 0, "ImageFsInfo: no container file system")
            fs = info.image_filesystems[0]
            tap.is_(fs.fs_id.mountpoint, images_root, "ImageFsInfo: mountpoint is the store root")
            want_bytes, want_inodes = store_usage(images_root)
            tap.is_(fs.used_bytes.value, want_bytes, "ImageFsInfo: used bytes")
            tap.is_(fs.inodes_used.value, want_inodes, "ImageFsInfo: inodes used")
            tap.ok(before <= fs.timestamp <= after, "ImageFsInfo: timestamp of the call")

            pod_cfg = c.msg("PodSandboxConfig",
                            metadata=c.msg("PodSandboxMetadata", name="fs", namespace="ns",
                                           uid="u-fs"),
                            hostname="fs-host", log_directory=logdir)
            pod = c.call("RunPodSandbox", config=pod_cfg).pod_sandbox_id
            cfg = c.msg("ContainerConfig", metadata=c.msg("ContainerMetadata", name="ls"),
                        image=c.msg("ImageSpec", image=ref),
                        command=["ls", "/bin/busybox"], log_path="ls.log")
            ctr = c.call("CreateContainer", pod_sandbox_id=pod, config=cfg,
                         sandbox_config=pod_cfg).container_id

            c.call("RemoveImage", image=c.msg("ImageSpec", image=ref))
            st = c.call("ImageStatus", image=c.msg("ImageSpec", image=ref))
            tap.ok(not st.HasField("image"), "RemoveImage of an image in use succeeds")
            snapshots = os.path.join(images_root, "snapshots")
            tap.is_(len([n for n in os.listdir(snapshots) if not n.endswith(".tmp")]), 1,
                    "the container's layer stays")

            c.call("StartContainer", container_id=ctr)
            for _ in range(100):
                status = c.call("ContainerStatus", container_id=ctr).status
                if status.state == 2:
                    break
                time.sleep(0.1)
            tap.is_(status.exit_code, 0, "the container runs from the held layer")
            with open(os.path.join(logdir, "ls.log")) as f:
                tap.like(f.read(), r"stdout F /bin/busybox\n$", "the container saw its files")

            kept = [n for n in os.listdir(snapshots) if not n.endswith(".tmp")][0]
            c.call("RemoveContainer", container_id=ctr)
            tap.ok(not os.path.exists(os.path.join(snapshots, kept)),
                   "RemoveContainer drops the last hold: the layer goes at once")
            # A crisp-unpack removes the renamed layer off the reactor.
            tap.ok(wait_for(lambda: os.listdir(snapshots) == []), "the layer's files are removed")
            tap.like(d.log(), r"image: removed '[^']*/images/snapshots/" + kept +
                     r"-[0-9a-f]+\.tmp' \(crisp-unpack pid \d+\)",
                     "a crisp-unpack removed them")
            tap.is_(os.listdir(os.path.join(images_root, "holds")), [], "no hold file remains")
            c.call("StopPodSandbox", pod_sandbox_id=pod)
            c.call("RemovePodSandbox", pod_sandbox_id=pod)
    os.system(f"rm -rf {logdir}")


tap.run(body)
