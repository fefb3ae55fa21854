#!/usr/bin/python3
"""Hostile images: each pull fails with an exact error and writes nothing outside the store.

An absolute entry name is the exception that succeeds: as in containerd,
"/name" is rooted at the layer. No tar bomb is tried: the limits
(LAYER_MAX_BYTES, 64 GiB, and LAYER_MAX_ENTRIES, 4 million) take minutes
to reach.
"""

import hashlib
import os
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))

import cri  # noqa: E402
import images  # noqa: E402
import tap  # noqa: E402
from daemon import Crispd  # noqa: E402
from standin import StandIn  # noqa: E402

SHADOW = "/etc/shadow"


def file_state(path):
    """(mtime_ns, sha256 hex) of a file, to prove it did not change."""
    with open(path, "rb") as f:
        return os.stat(path).st_mtime_ns, hashlib.sha256(f.read()).hexdigest()


def tree(root):
    """Every path under root with its type and content, to prove nothing changed there."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            rel = os.path.relpath(path, root)
            if os.path.islink(path) or not os.path.isfile(path):
                out[rel] = os.readlink(path) if os.path.islink(path) else "dir"
            else:
                with open(path, "rb") as f:
                    out[rel] = f.read()
    return out


def push_self_index(reg):
    """An index whose only entry names a digest the stand-in answers with the index itself."""
    fake = "sha256:" + "5" * 64
    index = {"schemaVersion": 2, "mediaType": images.MEDIA_TYPES["oci"]["index"],
             "manifests": [{"mediaType": images.MEDIA_TYPES["oci"]["index"], "digest": fake,
                            "size": 0, "platform": images.machine_platform()}]}
    # The entry's size is the body's, so that only the digest gives the cycle away.
    for _ in range(3):
        body = images.encode_json(index)
        index["manifests"][0]["size"] = len(body)
    body = images.encode_json(index)
    media = images.MEDIA_TYPES["oci"]["index"]
    reg.push_manifest("self", "latest", body, media)
    reg.push_manifest("self", fake, body, media)
    return {"error": f"manifest {fake}: digest mismatch: the content has digest "
                     f"{images.sha256_digest(body)}"}


def push_nested_indexes(reg, image, depth):
    """Wrap image in depth indexes, each pointing at the one below; tag the top deep:latest."""
    below = image
    media = images.MEDIA_TYPES["oci"]["index"]
    reg.push_manifest("deep", below["manifest_digest"], below["manifest"], below["media_type"])
    for level in range(depth):
        index = {"schemaVersion": 2, "mediaType": media,
                 "manifests": [{"mediaType": below["media_type"],
                                "digest": below["manifest_digest"], "size": below["size"],
                                "platform": images.machine_platform()}]}
        body = images.encode_json(index)
        digest = reg.push_manifest("deep", "latest" if level == depth - 1 else "unused", body, media)
        below = {"manifest_digest": digest, "manifest": body, "media_type": media,
                 "size": len(body)}
    return below


def push_wrong_size(reg, repo, delta):
    """An image whose manifest gives its layer's size off by delta bytes."""
    layer = images.build_layer([images.regular("file", b"sized\n" * 100)])
    reg.push_blob(repo, layer.blob)
    config = images.encode_json(images.image_config([layer.diff_id], {"Labels": {"v": repo}}))
    config_digest = reg.push_blob(repo, config)
    types = images.MEDIA_TYPES["oci"]
    manifest = {"schemaVersion": 2, "mediaType": types["manifest"],
                "config": {"mediaType": types["config"], "digest": config_digest,
                           "size": len(config)},
                "layers": [{"mediaType": types["layer_gzip"], "digest": layer.digest,
                            "size": layer.size + delta}]}
    reg.push_manifest(repo, "latest", images.encode_json(manifest), types["manifest"])
    if delta < 0:
        error = (f"http://{reg.host}/v2/{repo}/blobs/{layer.digest}: the registry sent more "
                 f"than the {layer.size + delta} bytes expected")
    else:
        error = (f"blob {layer.digest}: size {layer.size} does not match the expected "
                 f"{layer.size + delta}")
    return {"repo": repo, "code": "FAILED_PRECONDITION", "error": error}


def pull_error(c, ref):
    code, details = cri.rpc_error(c.call, "PullImage", image=c.msg("ImageSpec", image=ref),
                                  rpc_timeout=60)
    return (code.name if code else None), details


def body():
    canary = tempfile.mkdtemp(prefix="crisp-canary-")
    with open(os.path.join(canary, "victim"), "w") as f:
        f.write("untouched\n")
    canary_before = tree(canary)
    shadow_before = file_state(SHADOW)
    absolute_name = f"crisp-hostile-{os.getpid()}"

    with StandIn() as reg:
        def image(repo, entries):
            return images.push_image(reg, repo, "latest", [entries], fmt="oci",
                                     config_overrides={"Labels": {"v": repo}})

        cases = [
            ("dotdot", [images.regular("../escape", b"escaped\n")]),
            ("dotdot-inner", [images.directory("a"), images.regular("a/../../escape", b"x\n")]),
            ("symlink-write", [images.symlink("evil", canary),
                               images.regular("evil/pwned", b"written through a symlink\n")]),
            ("hardlink-shadow", [images.hardlink("shadow", SHADOW)]),
            ("hardlink-symlink", [images.symlink("etc", "/etc"),
                                  images.hardlink("shadow", "etc/shadow")]),
            ("whiteout-symlink", [images.symlink("evil", canary), images.whiteout("evil/victim")]),
        ]
        pushed = {repo: image(repo, entries) for repo, entries in cases}
        absolute = image("absolute", [images.regular("/" + absolute_name, b"rooted\n")])
        self_index = push_self_index(reg)
        deep_index = push_nested_indexes(reg, pushed["dotdot"], 5)
        sizes = {delta: push_wrong_size(reg, f"size{delta:+d}".replace("+", "plus").replace("-", "minus"), delta)
                 for delta in (-1, 100)}

        def layer(repo):
            return pushed[repo]["layer_digests"][0]

        expected = {
            "dotdot": ("INVALID_ARGUMENT",
                       f"layer {layer('dotdot')}: layer entry '../escape': "
                       f"a '..' component is not allowed"),
            "dotdot-inner": ("INVALID_ARGUMENT",
                             f"layer {layer('dotdot-inner')}: layer entry 'a/../../escape': "
                             f"a '..' component is not allowed"),
            "symlink-write": ("INVALID_ARGUMENT",
                              f"layer {layer('symlink-write')}: layer entry 'evil/pwned': "
                              f"Cannot extract through symlink evil/pwned"),
            "hardlink-shadow": ("INVALID_ARGUMENT",
                                f"layer {layer('hardlink-shadow')}: layer entry 'shadow': "
                                f"Hard-link target 'etc/shadow' does not exist."),
            "hardlink-symlink": ("INVALID_ARGUMENT",
                                 f"layer {layer('hardlink-symlink')}: layer entry 'shadow': "
                                 f"Cannot extract through symlink etc/shadow"),
            "whiteout-symlink": ("INVALID_ARGUMENT",
                                 f"layer {layer('whiteout-symlink')}: layer entry "
                                 f"'evil/.wh.victim': 'evil' is a symlink or not a directory, "
                                 f"and is not followed"),
        }

        with Crispd(registries=[reg]) as d, d.client() as c:
            for repo, _ in cases:
                code, message = expected[repo]
                tap.is_(pull_error(c, f"{reg.host}/{repo}"),
                        (code, f"pull image '{reg.host}/{repo}:latest': {message}"),
                        f"{repo}: rejected, naming the entry")
                st = c.call("ImageStatus", image=c.msg("ImageSpec", image=f"{reg.host}/{repo}"))
                tap.ok(not st.HasField("image"), f"{repo}: no image is stored")

            resp = c.call("PullImage", image=c.msg("ImageSpec", image=f"{reg.host}/absolute"),
                          rpc_timeout=60)
            tap.is_(resp.image_ref, absolute["config_digest"], "absolute entry: the pull completes")
            fs = os.path.join(d.root, "images", "snapshots", absolute["diff_ids"][0][len("sha256:"):], "fs")
            with open(os.path.join(fs, absolute_name), "rb") as f:
                tap.is_(f.read(), b"rooted\n", "absolute entry: rooted at the layer")
            tap.ok(not os.path.exists("/" + absolute_name), "absolute entry: not on the host")

            tap.is_(pull_error(c, f"{reg.host}/self:latest"),
                    ("FAILED_PRECONDITION",
                     f"pull image '{reg.host}/self:latest': {self_index['error']}"),
                    "index pointing at itself: rejected by its digest")
            tap.is_(pull_error(c, f"{reg.host}/deep:latest"),
                    ("INVALID_ARGUMENT",
                     f"pull image '{reg.host}/deep:latest': indexes nested deeper than 4"),
                    "indexes nested 5 deep: rejected")
            for delta, info in sizes.items():
                ref = f"{reg.host}/{info['repo']}:latest"
                tap.is_(pull_error(c, ref), (info["code"], f"pull image '{ref}': {info['error']}"),
                        f"blob size {delta:+d} in the manifest: rejected")
            leftover = [n for n in os.listdir(os.path.join(d.root, "images", "content", "ingest"))]
            tap.is_(leftover, [], "no ingest files are left")

    tap.ok(tree(canary) == canary_before, "nothing changed in the canary directory")
    tap.is_(file_state(SHADOW), shadow_before, "/etc/shadow kept its mtime and content")
    shutil.rmtree(canary)


tap.run(body)
