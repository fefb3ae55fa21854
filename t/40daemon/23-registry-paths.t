#!/usr/bin/python3
"""Mirrors, redirects, proxies, retries, the progress timeout and zstd layers."""

import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))

import cri  # noqa: E402
import images  # noqa: E402
import tap  # noqa: E402
from daemon import Crispd, write_config  # noqa: E402
from fakes import FakeServer, free_port  # noqa: E402
from registry import Registry  # noqa: E402

TOKEN = "redirect-Secret-7x"


OCI_LAYER_ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd"


class ZstdLayer(images.Layer):
    """A Layer whose blob is the tar compressed with the zstd command."""

    def __init__(self, tar):
        super().__init__(tar, gzip=False)
        self.blob = subprocess.run(["zstd", "-q", "-c"], input=tar, check=True,
                                   capture_output=True).stdout
        self.digest = images.sha256_digest(self.blob)
        self.size = len(self.blob)

    def media_type(self, fmt):
        return OCI_LAYER_ZSTD


def paths(server):
    return [(r["method"], r["path"]) for r in server.requests()]


def body():
    d = tempfile.mkdtemp(prefix="crisp-paths-")
    with Registry() as reg:
        pushed = images.busybox_image(reg, "busybox", "latest", fmt="oci")
        want = pushed["config_digest"]
        manifest_path = "/v2/busybox/manifests/latest"
        down = f"127.0.0.1:{free_port()}"

        # A mirror that is down, then one that is up, for an upstream that is down too.
        with FakeServer("--backend", f"http://{reg.host}") as mirror:
            upstream = f"127.0.0.1:{free_port()}"
            cfg = write_config(d, "mirrors.json", {"registries": {
                upstream: {"mirrors": [f"http://{down}", f"http://{mirror.host}"]}}})
            with Crispd(extra_args=["--config", cfg]) as dm, dm.client() as c:
                tap.is_(cri.pull_image(c, f"{upstream}/busybox"), want,
                        "mirror down, next mirror up")
                tap.is_(paths(mirror)[0], ("GET", manifest_path), "the up mirror served it")
                tap.is_(len([p for p in paths(mirror) if "/blobs/" in p[1]]), 2,
                        "the up mirror served config and layer")

        # A mirror that is down falls back to the upstream host.
        cfg = write_config(d, "fallback.json", {"registries": {
            reg.host: {"insecure": True, "mirrors": [f"http://{down}"]}}})
        with Crispd(extra_args=["--config", cfg]) as dm, dm.client() as c:
            tap.is_(cri.pull_image(c, f"{reg.host}/busybox"), want, "mirror down: upstream used")

        # Blob GETs redirected to another host, which must not get the token.
        with FakeServer("--backend", f"http://{reg.host}") as blobs, \
                FakeServer("--backend", f"http://{reg.host}", "--bearer", "--static-token", TOKEN,
                           "--redirect", blobs.url) as front:
            with Crispd(registries=[front.host]) as dm, dm.client() as c:
                tap.is_(cri.pull_image(c, f"{front.host}/busybox", registry_token=TOKEN), want,
                        "blobs through a redirect")
                got = blobs.requests()
                tap.is_(len(got), 2, "the blob host got config and layer")
                tap.is_([r["headers"].get("Authorization") for r in got], [None, None],
                        "the blob host got no Authorization header")
                tap.is_(front.requests()[-1]["headers"].get("Authorization"), f"Bearer {TOKEN}",
                        "the registry got the token")
                tap.ok(TOKEN not in dm.log(), "daemon log lacks the token")

        # HTTP_PROXY and NO_PROXY from crispd's environment.
        with FakeServer("--proxy") as proxy:
            saved = {k: os.environ.get(k) for k in ("HTTP_PROXY", "http_proxy", "NO_PROXY",
                                                    "no_proxy")}
            try:
                for k in saved:
                    os.environ.pop(k, None)
                os.environ["HTTP_PROXY"] = proxy.url
                cfg = write_config(d, "plain.json", {"registries": {reg.host: {"insecure": True}}})
                with Crispd(extra_args=["--config", cfg]) as dm, dm.client() as c:
                    tap.is_(cri.pull_image(c, f"{reg.host}/busybox"), want,
                            "pull through HTTP_PROXY")
                seen = [p for p in paths(proxy) if p[1].endswith(manifest_path)]
                tap.is_(seen, [("GET", f"http://{reg.host}{manifest_path}")],
                        "the proxy got the manifest request")
                os.environ["NO_PROXY"] = "127.0.0.1"
                before = len(proxy.requests())
                with Crispd(extra_args=["--config", cfg]) as dm, dm.client() as c:
                    tap.is_(cri.pull_image(c, f"{reg.host}/busybox"), want, "NO_PROXY pull")
                tap.is_(len(proxy.requests()), before, "NO_PROXY: the proxy got nothing")
            finally:
                for k, v in saved.items():
                    if v is None:
                        os.environ.pop(k, None)
                    else:
                        os.environ[k] = v

        # 503 twice, then success: retried with backoff.
        with FakeServer("--backend", f"http://{reg.host}", "--fail-first", "2") as flaky:
            with Crispd(registries=[flaky.host]) as dm, dm.client() as c:
                tap.is_(cri.pull_image(c, f"{flaky.host}/busybox"), want, "503 twice, then success")
                tap.is_([p for p in paths(flaky) if p[1] == manifest_path],
                        [("GET", manifest_path)] * 3, "the manifest was requested three times")

        # A blob that never arrives is cancelled after the progress timeout.
        with FakeServer("--backend", f"http://{reg.host}", "--stall-blobs") as stall:
            cfg = write_config(d, "stall.json", {"image_pull_progress_timeout_s": 2,
                                                 "registries": {stall.host: {"insecure": True}}})
            with Crispd(extra_args=["--config", cfg]) as dm, dm.client() as c:
                code, details = cri.rpc_error(cri.pull_image, c, f"{stall.host}/busybox")
                tap.is_(code and code.name, "DEADLINE_EXCEEDED", "stalled blob: DEADLINE_EXCEEDED")
                tap.like(details, r"^pull image '127\.0\.0\.1:\d+/busybox:latest': GET "
                         r"http://127\.0\.0\.1:\d+/v2/busybox/blobs/sha256:[0-9a-f]{64}: no data "
                         r"received for 2 s, transfer cancelled \(progress timeout\)$",
                         "stalled blob: the error names the timeout")

        # A zstd-compressed layer.
        layer = ZstdLayer(images.build_tar(images.busybox_entries()))
        zstd_img = images.push_image(reg, "zbusybox", "latest", [layer], fmt="oci",
                                     config_overrides={"Labels": {"v": "zstd"}})
        with Crispd(registries=[reg]) as dm, dm.client() as c:
            tap.is_(cri.pull_image(c, f"{reg.host}/zbusybox"), zstd_img["config_digest"],
                    "zstd layer")
    os.system(f"rm -rf {d}")


tap.run(body)
