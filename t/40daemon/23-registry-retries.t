#!/usr/bin/python3
"""Resumed blob downloads, retry passes over mirrors and a large layer."""

import hashlib
import os
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))

import cri  # noqa: E402
import images  # noqa: E402
import tap  # noqa: E402
from daemon import Crispd, write_config  # noqa: E402
from fakes import FakeServer, free_port  # noqa: E402
from registry import Registry  # noqa: E402

MANIFEST_PATH = "/v2/busybox/manifests/latest"
LARGE_FILE_SIZE = 24 * 1024 * 1024


def pseudo_random_bytes(size, seed):
    """Return size bytes of the SHA-256 chain sha256(seed), sha256(sha256(seed)), ...

    The output is the same on every run, and gzip cannot compress it.
    """
    block = hashlib.sha256(seed).digest()
    blocks = []
    for _ in range((size + len(block) - 1) // len(block)):
        blocks.append(block)
        block = hashlib.sha256(block).digest()
    return b"".join(blocks)[:size]


def range_header(request):
    """Return the Range header of a logged request, or None without one."""
    for name, value in request["headers"].items():
        if name.lower() == "range":
            return value
    return None


def blob_get_ranges(server, digest):
    """Return the Range header (None when absent) of each GET of blob digest, in order."""
    return [range_header(r) for r in server.requests()
            if r["method"] == "GET" and r["path"].endswith(f"/blobs/{digest}")]


def manifest_get_count(server):
    return len([r for r in server.requests()
                if r["method"] == "GET" and r["path"] == MANIFEST_PATH])


def check_image(c, ref, pushed, label):
    """Check that ref names exactly the image pushed: its config digest and manifest digest."""
    st = c.call("ImageStatus", image=c.msg("ImageSpec", image=ref))
    tap.is_(st.image.id, pushed["config_digest"], f"{label}: image id")
    repo = ref.rsplit(":", 1)[0]
    tap.is_(list(st.image.repo_digests), [f"{repo}@{pushed['manifest_digest']}"],
            f"{label}: repo digest")


def check_cut_layer(reg, pushed, extra_args, label, resumes=1):
    """Pull through a fake that cuts the layer's first GET halfway; check the retries' Range."""
    layer = pushed["layer_digests"][0]
    half = images.busybox_layer().size // 2
    with FakeServer("--backend", f"http://{reg.host}", "--cut-blobs", "1", "--cut-digest", layer,
                    *extra_args) as cut:
        ref = f"{cut.host}/busybox:latest"
        with Crispd(registries=[cut.host]) as dm, dm.client() as c, tap.guard(f"{label}: pull"):
            tap.is_(cri.pull_image(c, ref), pushed["config_digest"], f"{label}: pulled")
            check_image(c, ref, pushed, label)
        tap.is_(blob_get_ranges(cut, layer), [None] + [f"bytes={half}-"] * resumes,
                f"{label}: layer GET, then {resumes} resumed at byte {half}")


def check_unrequested_206(reg, pushed):
    """A 206 to a request without Range is an error of the registry, named as such."""
    with FakeServer("--backend", f"http://{reg.host}", "--partial-blobs") as partial:
        ref = f"{partial.host}/busybox:latest"
        with Crispd(registries=[partial.host]) as dm, dm.client() as c:
            code, details = cri.rpc_error(cri.pull_image, c, ref)
    tap.is_(code and code.name, "UNAVAILABLE", "206 without Range: UNAVAILABLE")
    tap.is_(details, f"pull image '{ref}': GET http://{partial.host}/v2/busybox/blobs/"
                     f"{pushed['config_digest']}: HTTP status 206",
            "206 without Range: the error names the status")


def check_mirror_retries(d, reg, pushed):
    """Pull through a mirror that fails with 503, for an upstream host that refuses connections."""
    upstream = f"127.0.0.1:{free_port()}"
    ref = f"{upstream}/busybox:latest"

    with FakeServer("--backend", f"http://{reg.host}", "--fail-first", "2") as mirror:
        cfg = write_config(d, "mirror-2.json", {"registries": {
            upstream: {"insecure": True, "mirrors": [f"http://{mirror.host}"]}}})
        with Crispd(extra_args=["--config", cfg]) as dm, dm.client() as c:
            with tap.guard("mirror 503 twice"):
                tap.is_(cri.pull_image(c, ref), pushed["config_digest"],
                        "mirror 503 twice: pulled in the third pass")
            failover = (f'level=info msg="{mirror.host}: GET http://{mirror.host}{MANIFEST_PATH}: '
                        f'HTTP status 503: UNAVAILABLE: try later; trying the next endpoint"')
            tap.is_(dm.log().count(failover), 2, "mirror 503 twice: each failover logged at info")
        tap.is_(manifest_get_count(mirror), 3, "mirror 503 twice: three manifest GETs")

    with FakeServer("--backend", f"http://{reg.host}", "--fail-first", "100") as mirror:
        cfg = write_config(d, "mirror-100.json", {"registries": {
            upstream: {"insecure": True, "mirrors": [f"http://{mirror.host}"]}}})
        with Crispd(extra_args=["--config", cfg]) as dm, dm.client() as c:
            code, details = cri.rpc_error(cri.pull_image, c, ref)
        tap.is_(code and code.name, "UNAVAILABLE", "mirror always 503: UNAVAILABLE")
        tap.is_(details, f"pull image '{ref}': GET http://{mirror.host}{MANIFEST_PATH}: "
                         f"HTTP status 503: UNAVAILABLE: try later",
                "mirror always 503: the error is the mirror's")
        tap.is_(manifest_get_count(mirror), 4, "mirror always 503: four manifest GETs")


def check_large_layer(reg):
    """Pull an image whose one layer is a 24 MiB file and check the unpacked file's SHA-256."""
    data = pseudo_random_bytes(LARGE_FILE_SIZE, b"crisp large layer")
    want_sha256 = hashlib.sha256(data).hexdigest()
    layer = images.build_layer([images.regular("large.bin", data)])
    tap.ok(layer.size >= LARGE_FILE_SIZE, "large layer: gzip did not shrink the blob")
    pushed = images.push_image(reg, "large", "latest", [layer], fmt="oci")
    del data

    with Crispd(registries=[reg]) as dm, dm.client() as c:
        ref = f"{reg.host}/large:latest"
        tap.is_(cri.pull_image(c, ref), pushed["config_digest"], "large layer: pulled")
        # The image has one layer, so the snapshot's chain id is that layer's diff id.
        path = os.path.join(dm.root, "images", "snapshots", layer.diff_id[len("sha256:"):],
                            "fs", "large.bin")
        tap.is_(os.path.getsize(path), LARGE_FILE_SIZE, "large layer: file size")
        digest = hashlib.sha256()
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                digest.update(chunk)
        tap.is_(digest.hexdigest(), want_sha256, "large layer: file SHA-256")


def body():
    d = tempfile.mkdtemp(prefix="crisp-retries-")
    try:
        with Registry() as reg:
            pushed = images.busybox_image(reg, "busybox", "latest", fmt="oci")
            with tap.guard("cut layer, Range honoured"):
                check_cut_layer(reg, pushed, [], "cut layer, Range honoured")
            with tap.guard("cut layer, Range ignored"):
                check_cut_layer(reg, pushed, ["--ignore-range"], "cut layer, Range ignored")
            # The first resumed response starts a byte late: retried, not taken.
            with tap.guard("cut layer, 206 off by one"):
                check_cut_layer(reg, pushed, ["--shift-ranges", "1"], "cut layer, 206 off by one",
                                resumes=2)
            with tap.guard("206 without Range"):
                check_unrequested_206(reg, pushed)
            with tap.guard("mirror retry passes"):
                check_mirror_retries(d, reg, pushed)
            with tap.guard("large layer"):
                check_large_layer(reg)
    finally:
        shutil.rmtree(d, ignore_errors=True)


tap.run(body)
