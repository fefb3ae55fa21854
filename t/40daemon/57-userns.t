#!/usr/bin/python3
"""Pods in user namespaces: the maps the containers see, root inside, image files owned by the
container's root through idmapped layers, new files owned by the mapped host IDs, invalid maps
rejected, and the feature reported by Status."""

import glob
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
HOST_ID = 200000
LENGTH = 65536
FIELD = "config.linux.security_context.namespace_options.userns_options"


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


def body():
    logdir = tempfile.mkdtemp(prefix="crisp-logs-")
    volume = tempfile.mkdtemp(prefix="crisp-userns-vol-")
    with open(os.path.join(volume, "host-file"), "w") as f:
        f.write("x")

    with Registry() as reg:
        images.busybox_image(reg, "userns", "latest")
        image = f"{reg.host}/userns"
        with Crispd(registries=[reg]) as d, d.client() as c:
            st = c.call("Status")
            tap.is_([(h.name, h.features.user_namespaces) for h in st.runtime_handlers],
                    [("", True)], "Status reports user namespaces for the default handler")

            c.call("PullImage", image=c.msg("ImageSpec", image=image), rpc_timeout=120)

            def pod_config(name, mode=0, uids=None, gids=None):
                m = [c.msg("IDMapping", host_id=HOST_ID, container_id=0, length=LENGTH)]
                userns = c.msg("UserNamespace", mode=mode,
                               uids=m if uids is None else uids,
                               gids=m if gids is None else gids)
                return c.msg("PodSandboxConfig",
                             metadata=c.msg("PodSandboxMetadata", name=name, namespace="ns",
                                            uid=name),
                             log_directory=logdir,
                             linux=c.msg("LinuxPodSandboxConfig", security_context=c.msg(
                                 "LinuxSandboxSecurityContext", namespace_options=c.msg(
                                     "NamespaceOption", userns_options=userns))))

            pod_cfg = pod_config("userns")
            pod = c.call("RunPodSandbox", config=pod_cfg).pod_sandbox_id

            script = ("cat /proc/self/uid_map /proc/self/gid_map; id; "
                      "stat -c 'image=%u:%g' /bin/busybox /; "
                      "stat -c 'volume=%u:%g' /vol/host-file; "
                      "touch /created && stat -c 'created=%u:%g' /created")
            cfg = c.msg("ContainerConfig", metadata=c.msg("ContainerMetadata", name="probe"),
                        image=c.msg("ImageSpec", image=image), command=["sh", "-c", script],
                        log_path="probe.log",
                        mounts=[c.msg("Mount", host_path=volume, container_path="/vol")])
            ctr = c.call("CreateContainer", pod_sandbox_id=pod, config=cfg,
                         sandbox_config=pod_cfg).container_id
            c.call("StartContainer", container_id=ctr)
            lines = output(c, ctr)
            maps = [line.split() for line in lines if line.strip().startswith("0 ")]
            tap.is_(maps, [["0", str(HOST_ID), str(LENGTH)]] * 2,
                    "uid_map and gid_map inside show the pod's range")
            tap.is_([line for line in lines if line.startswith("uid=")],
                    ["uid=0(root) gid=0(root) groups=0(root)"], "id shows root")
            tap.is_([line for line in lines if line.startswith("image=")],
                    ["image=0:0", "image=0:0"], "image files and / are owned by root inside")
            tap.is_([line for line in lines if line.startswith("volume=")], ["volume=0:0"],
                    "a bind-mounted host root file is owned by root inside")
            tap.is_([line for line in lines if line.startswith("created=")], ["created=0:0"],
                    "a created file is owned by root inside")
            found = glob.glob(os.path.join(d.root, "**", ctr, "upper", "created"),
                              recursive=True)
            tap.is_(len(found), 1, "the created file is in the container's writable layer")
            if found:
                st = os.stat(found[0])
                tap.is_((st.st_uid, st.st_gid), (HOST_ID, HOST_ID),
                        "on the host the created file belongs to the mapped host IDs")
            c.call("StopPodSandbox", pod_sandbox_id=pod)
            c.call("RemovePodSandbox", pod_sandbox_id=pod)

            # Invalid maps fail RunPodSandbox with INVALID_ARGUMENT and leave no pod.
            def ids(host, container, length):
                return [c.msg("IDMapping", host_id=host, container_id=container, length=length)]

            two = ids(HOST_ID, 0, 1000) + ids(HOST_ID + 500, 1000, 1000)
            cases = [
                ("zero-length", dict(uids=ids(HOST_ID, 0, 0)), f"{FIELD}.uids[0].length is 0"),
                ("empty", dict(uids=[]), f"{FIELD}.uids is empty"),
                ("overlap", dict(uids=two, gids=two),
                 f"{FIELD}.uids[1] overlaps {FIELD}.uids[0] in host IDs"),
                ("two-ranges", dict(uids=ids(HOST_ID, 0, 10) + ids(HOST_ID + 10, 10, 10)),
                 f"{FIELD}.uids has 2 ranges: only one range is supported"),
                ("mismatch", dict(gids=ids(HOST_ID + 1, 0, LENGTH)),
                 f"{FIELD}.uids and .gids differ"),
                ("past-end", dict(uids=ids(4294967295 - 10, 0, 100),
                                  gids=ids(4294967295 - 10, 0, 100)),
                 f"{FIELD}.uids[0] runs past the largest ID"),
                ("node-with-maps", dict(mode=2), f"{FIELD}: mode NODE takes no uids or gids"),
                ("container-mode", dict(mode=1), f"{FIELD}.mode 1 is invalid"),
            ]
            for name, kw, text in cases:
                details = cri.expect_error(c.call, "INVALID_ARGUMENT", "RunPodSandbox",
                                           config=pod_config(name, **kw))
                tap.ok(text in details, f"{name}: INVALID_ARGUMENT says {text!r} ({details})")
            tap.is_(list(c.call("ListPodSandbox").items), [], "no pod sandbox is left")
            tap.is_(leftovers(d.tmpdir), [], "no mounts are left")

    os.unlink(os.path.join(volume, "host-file"))
    os.rmdir(volume)


tap.run(body)
