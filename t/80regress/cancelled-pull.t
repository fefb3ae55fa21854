#!/usr/bin/python3
"""A PullImage whose client gives up stops downloading and leaves nothing behind."""

import hashlib
import http.server
import json
import os
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))

import cri  # noqa: E402
import tap  # noqa: E402
from daemon import Crispd, reactor_pid  # noqa: E402

CONFIG = json.dumps({"architecture": "amd64", "os": "linux",
                     "rootfs": {"type": "layers", "diff_ids": ["sha256:" + "0" * 64]}}).encode()
CONFIG_DIGEST = "sha256:" + hashlib.sha256(CONFIG).hexdigest()
LAYER_DIGEST = "sha256:" + "1" * 64
MANIFEST = json.dumps({
    "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
    "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": CONFIG_DIGEST,
               "size": len(CONFIG)},
    "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": LAYER_DIGEST,
                "size": 10 ** 7}]}).encode()
stop_serving = threading.Event()


class StallingRegistry(http.server.BaseHTTPRequestHandler):
    """Serves one image whose layer blob sends a few bytes and then nothing."""

    def log_message(self, *args):
        pass

    def send(self, body, ctype):
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Docker-Content-Digest", "sha256:" + hashlib.sha256(body).hexdigest())
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        if self.path == "/v2/":
            return self.send(b"{}", "application/json")
        if self.path.endswith("/manifests/latest"):
            return self.send(MANIFEST, "application/vnd.oci.image.manifest.v1+json")
        if self.path.endswith("/blobs/" + CONFIG_DIGEST):
            return self.send(CONFIG, "application/octet-stream")
        if self.path.endswith("/blobs/" + LAYER_DIGEST):
            self.send_response(200)
            self.send_header("Content-Length", str(10 ** 7))
            self.end_headers()
            self.wfile.write(b"\x1f\x8b" + b"\0" * 100)
            self.wfile.flush()
            stop_serving.wait(30)
            return None
        self.send_response(404)
        self.end_headers()
        return None


def open_fds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def body():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), StallingRegistry)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    host = f"127.0.0.1:{server.server_address[1]}"
    try:
        with Crispd(registries=[host]) as d, d.client() as c:
            reactor = reactor_pid(d.pid)
            before = open_fds(reactor)
            for _ in range(10):
                cri.expect_error(c.call, "DEADLINE_EXCEEDED", "PullImage",
                                 image=c.msg("ImageSpec", image=f"{host}/stall"), rpc_timeout=0.5)
            time.sleep(1)
            tap.ok(open_fds(reactor) <= before + 2,
                   f"cancelled pulls release their fds ({before} before, {open_fds(reactor)} after)")
            ingest = os.path.join(d.root, "images", "content", "ingest")
            left = os.listdir(ingest) if os.path.isdir(ingest) else []
            tap.is_(left, [], "no partial download is left")
            tap.is_(c.call("Version").runtime_name, "crisp", "crispd keeps serving")
    finally:
        stop_serving.set()
        server.shutdown()
        server.server_close()


tap.run(body)
