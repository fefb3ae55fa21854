#!/usr/bin/python3
"""Security settings that cannot be honoured fail CreateContainer and leave nothing behind."""

import os
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))

import cri  # noqa: E402
import images  # noqa: E402
import tap  # noqa: E402
from daemon import Crispd, leftovers  # noqa: E402
from registry import Registry  # noqa: E402


def body():
    tmp = tempfile.mkdtemp(prefix="crisp-seccomp-")
    bad_profile = os.path.join(tmp, "bad.json")
    with open(bad_profile, "w") as f:
        f.write('{"defaultAction": "SCMP_ACT_WHATEVER"}')
    missing = os.path.join(tmp, "missing.json")

    with Registry() as reg:
        images.busybox_image(reg, "sec", "latest")
        image = f"{reg.host}/sec"
        with Crispd(registries=[reg]) as d, d.client() as c:
            c.call("PullImage", image=c.msg("ImageSpec", image=image), rpc_timeout=120)
            pod_cfg = c.msg("PodSandboxConfig",
                            metadata=c.msg("PodSandboxMetadata", name="err", namespace="ns",
                                           uid="u"))
            pod = c.call("RunPodSandbox", config=pod_cfg).pod_sandbox_id

            def create(name, **kw):
                cfg = c.msg("ContainerConfig", metadata=c.msg("ContainerMetadata", name=name),
                            image=c.msg("ImageSpec", image=image), command=["true"],
                            linux=c.msg("LinuxContainerConfig", security_context=c.msg(
                                "LinuxContainerSecurityContext", **kw)))
                return c.call("CreateContainer", pod_sandbox_id=pod, config=cfg,
                              sandbox_config=pod_cfg)

            cases = [
                ("unknown-cap", "INVALID_ARGUMENT", "unknown capability 'CAP_BOGUS'",
                 dict(capabilities=c.msg("Capability", add_capabilities=["CAP_BOGUS"]))),
                ("unknown-drop", "INVALID_ARGUMENT", "unknown capability 'nope'",
                 dict(capabilities=c.msg("Capability", drop_capabilities=["nope"]))),
                ("missing-profile", "INVALID_ARGUMENT", f"'{missing}'",
                 dict(seccomp=c.msg("SecurityProfile", profile_type=2, localhost_ref=missing))),
                ("bad-profile", "INVALID_ARGUMENT", f"'{bad_profile}'",
                 dict(seccomp_profile_path=f"localhost/{bad_profile}")),
                ("bad-profile-name", "INVALID_ARGUMENT", "'runtime/strict'",
                 dict(seccomp_profile_path="runtime/strict")),
                ("apparmor", "FAILED_PRECONDITION", "this host has no AppArmor",
                 dict(apparmor=c.msg("SecurityProfile", profile_type=2, localhost_ref="p"))),
                ("apparmor-old", "FAILED_PRECONDITION", "this host has no AppArmor",
                 dict(apparmor_profile="localhost/p")),
                ("selinux", "FAILED_PRECONDITION", "this host has no SELinux",
                 dict(selinux_options=c.msg("SELinuxOption", type="container_t"))),
                ("privileged", "FAILED_PRECONDITION", "unprivileged pod sandbox",
                 dict(privileged=True)),
                ("group-only", "INVALID_ARGUMENT", "run_as_group",
                 dict(run_as_group=c.msg("Int64Value", value=5))),
            ]
            for name, code, text, kw in cases:
                details = cri.expect_error(create, code, name, **kw)
                tap.ok(text in details, f"{name}: {code} says {text!r} ({details})")

            tap.is_(list(c.call("ListContainers").containers), [], "no container record is left")
            tap.is_(os.listdir(os.path.join(d.root, "records", "containers")), [],
                    "no container directory is left")
            for name, kw in (("apparmor-default", dict(apparmor=c.msg("SecurityProfile"))),
                             ("apparmor-unconfined", dict(apparmor_profile="unconfined"))):
                tap.ok(create(name, **kw).container_id, f"{name}: accepted")
            c.call("StopPodSandbox", pod_sandbox_id=pod)
            c.call("RemovePodSandbox", pod_sandbox_id=pod)
            tap.is_(leftovers(d.tmpdir), [], "no mounts are left")

    for name in os.listdir(tmp):
        os.unlink(os.path.join(tmp, name))
    os.rmdir(tmp)


tap.run(body)
