#!/usr/bin/python3
"""PullImage, ListImages, ImageStatus and RemoveImage against a real registry."""

import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))

import cri  # noqa: E402
import images  # noqa: E402
import tap  # noqa: E402
from daemon import Crispd  # noqa: E402
from registry import Registry  # noqa: E402


def image_id(pushed):
    return pushed["config_digest"]


def check_pull(c, reg, name, pushed, label):
    ref = f"{reg.host}/{name}"
    resp = c.call("PullImage", image=c.msg("ImageSpec", image=ref), rpc_timeout=120)
    tap.is_(resp.image_ref, image_id(pushed), f"{label}: image_ref is the image id")

    st = c.call("ImageStatus", image=c.msg("ImageSpec", image=ref))
    tap.is_(st.image.id, image_id(pushed), f"{label}: ImageStatus by reference")
    tap.is_(list(st.image.repo_tags), [ref if ":" in name else ref + ":latest"],
            f"{label}: repo_tags")
    repo = ref.rsplit(":", 1)[0] if ":" in name else ref
    tap.is_(list(st.image.repo_digests), [f"{repo}@{pushed['manifest_digest']}"],
            f"{label}: repo_digests")
    return st.image


def body():
    with Registry() as reg:
        # Distinct labels give each image its own config, so its own image id.
        docker = images.busybox_image(reg, "busybox", "latest", fmt="docker",
                                      config_overrides={"Labels": {"v": "docker"}})
        oci = images.busybox_image(reg, "oci/busybox", "1.0", fmt="oci",
                                   config_overrides={"Labels": {"v": "oci"}})
        plain = images.busybox_image(reg, "plain", "latest", fmt="oci", gzip=False,
                                     config_overrides={"Labels": {"v": "plain"}})
        amd = images.busybox_image(reg, "multi", None, fmt="oci",
                                   config_overrides={"Labels": {"v": "multi"}})
        other = images.busybox_image(
            reg, "multi", None, fmt="oci",
            extra_layers=[[images.regular("marker", b"other platform\n")]],
            platform={"os": "linux", "architecture": "s390x"})
        index = images.push_index(reg, "multi", "latest", [other, amd], fmt="oci")
        dlist_amd = images.busybox_image(reg, "dlist", None, fmt="docker",
                                         config_overrides={"Labels": {"v": "dlist"}})
        dlist = images.push_index(reg, "dlist", "latest", [dlist_amd], fmt="docker")
        bad = images.busybox_image(reg, "corrupt", "latest", fmt="oci",
                                   extra_layers=[[images.regular("x", b"x\n")]])

        with Crispd(registries=[reg]) as d, d.client() as c:
            img = check_pull(c, reg, "busybox", docker, "docker schema2")
            tap.ok(img.size > 0, "size is reported")
            tap.is_(img.uid.value, 0, "image without User has uid 0")
            check_pull(c, reg, "oci/busybox:1.0", oci, "OCI manifest")
            check_pull(c, reg, "plain", plain, "uncompressed OCI layer")

            resp = c.call("PullImage", image=c.msg("ImageSpec", image=f"{reg.host}/multi"),
                          rpc_timeout=120)
            tap.is_(resp.image_ref, image_id(amd), "OCI index: this machine's platform is chosen")
            resp = c.call("PullImage", image=c.msg("ImageSpec", image=f"{reg.host}/dlist"),
                          rpc_timeout=120)
            tap.is_(resp.image_ref, image_id(dlist_amd), "Docker manifest list is resolved")

            by_digest = f"{reg.host}/busybox@{docker['manifest_digest']}"
            resp = c.call("PullImage", image=c.msg("ImageSpec", image=by_digest), rpc_timeout=120)
            tap.is_(resp.image_ref, image_id(docker), "pull by digest")

            listed = {i.id: i for i in c.call("ListImages").images}
            tap.is_(sorted(listed), sorted({image_id(x) for x in (docker, oci, plain, amd, dlist_amd)}),
                    "ListImages lists every pulled image once")
            only = c.call("ListImages", filter=c.msg("ImageFilter", image=c.msg(
                "ImageSpec", image=f"{reg.host}/oci/busybox:1.0"))).images
            tap.is_([i.id for i in only], [image_id(oci)], "ListImages filter by reference")

            st = c.call("ImageStatus", image=c.msg("ImageSpec", image=image_id(docker)))
            tap.is_(st.image.id, image_id(docker), "ImageStatus by image id")
            hexid = image_id(docker).split(":", 1)[1]
            st = c.call("ImageStatus", image=c.msg("ImageSpec", image=hexid[:12]))
            tap.is_(st.image.id, image_id(docker), "ImageStatus by id prefix")
            st = c.call("ImageStatus", image=c.msg("ImageSpec", image=f"{reg.host}/nothing:here"))
            tap.ok(not st.HasField("image"), "ImageStatus of an unknown image is empty")
            st = c.call("ImageStatus", image=c.msg("ImageSpec", image=image_id(oci)), verbose=True)
            info = json.loads(st.info["info"])
            tap.is_(info["imageSpec"]["rootfs"]["diff_ids"], oci["diff_ids"],
                    "verbose ImageStatus carries the image config")

            # Errors.
            details = cri.expect_error(c.call, "INVALID_ARGUMENT", "PullImage",
                                       image=c.msg("ImageSpec", image="UPPER/Case"))
            tap.like(details, r"UPPER/Case", "invalid reference is named")
            cri.expect_error(c.call, "INVALID_ARGUMENT", "PullImage", image=c.msg("ImageSpec"))
            code, details = cri.rpc_error(c.call, "PullImage",
                                          image=c.msg("ImageSpec", image=f"{reg.host}/missing:1"),
                                          rpc_timeout=60)
            tap.is_(code.name if code else None, "NOT_FOUND", "missing tag is NOT_FOUND")

            # Corrupt the extra layer blob in the registry's storage: digest mismatch.
            digest = bad["layer_digests"][1].split(":", 1)[1]
            blob = os.path.join(reg.tmpdir, "storage", "docker/registry/v2/blobs/sha256", digest[:2], digest, "data")
            with open(blob, "r+b") as f:
                data = bytearray(f.read())
                data[-1] ^= 0xff
                f.seek(0)
                f.write(data)
            code, details = cri.rpc_error(c.call, "PullImage",
                                          image=c.msg("ImageSpec", image=f"{reg.host}/corrupt"),
                                          rpc_timeout=60)
            tap.ok(code is not None, "corrupt blob fails the pull")
            tap.like(details or "", digest[:12], "the error names the blob digest")
            st = c.call("ImageStatus", image=c.msg("ImageSpec", image=f"{reg.host}/corrupt"))
            tap.ok(not st.HasField("image"), "nothing of the corrupt image is visible")

            # RemoveImage by tag, then again (idempotent).
            c.call("RemoveImage", image=c.msg("ImageSpec", image=f"{reg.host}/plain"))
            st = c.call("ImageStatus", image=c.msg("ImageSpec", image=f"{reg.host}/plain"))
            tap.ok(not st.HasField("image"), "RemoveImage removes the image")
            c.call("RemoveImage", image=c.msg("ImageSpec", image=f"{reg.host}/plain"))
            tap.ok(True, "RemoveImage of a removed image succeeds")
            ids = [i.id for i in c.call("ListImages").images]
            tap.ok(image_id(plain) not in ids, "removed image is not listed")

            # v1alpha2 serves the same store.
            with d.client("v1alpha2") as old:
                st = old.call("ImageStatus", image=old.msg("ImageSpec", image=f"{reg.host}/busybox"))
                tap.is_(st.image.id, image_id(docker), "v1alpha2 ImageStatus")


tap.run(body)
