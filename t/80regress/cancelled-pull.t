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
from daemon import Crispd, reactor_pid, wait_for  # noqa: E402

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


def unpack_helpers(reactor):
    """The crisp-unpack children of the reactor: {pid: argv}."""
    found = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")[:-1]
        except OSError:
            continue
        if ppid == reactor and argv and argv[0] == b"crisp-unpack":
            found[int(entry)] = [a.decode() for a in argv]
    return found


def check_helper(c, d, host, reactor):
    """While a pull stalls, its crisp-unpack holds only its pipes and stdio, then goes with it."""
    done = threading.Event()

    def pull():
        cri.rpc_error(c.call, "PullImage", image=c.msg("ImageSpec", image=f"{host}/stall"),
                      rpc_timeout=3)
        done.set()

    thread = threading.Thread(target=pull)
    thread.start()
    tap.ok(wait_for(lambda: unpack_helpers(reactor)), "a stalled pull runs crisp-unpack")
    helpers = unpack_helpers(reactor)
    pid, argv = next(iter(helpers.items()))
    tap.is_(len(helpers), 1, "one helper for the one layer")
    tap.is_([argv[1], argv[3], argv[4], argv[6]],
            ["--stream", LAYER_DIGEST, str(10 ** 7), "sha256:" + "0" * 64],
            "the helper streams the layer blob with its digest, size and diff_id")
    fds = {int(fd): os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")}
    tap.is_(sorted(fds), [0, 1, 2, 3, 4, 5],
            "the helper holds stdio, its message pipe, the blob file and the layer directory")
    tap.like(fds[4], r"/images/content/ingest/1{64}-[0-9a-f]+\.tmp$", "fd 4: the blob file")
    tap.like(fds[5], r"/images/snapshots/0{64}-[0-9a-f]+\.tmp/fs$", "fd 5: the layer directory")
    tap.like(os.readlink(f"/proc/{pid}/fd/0"), r"^pipe:", "the blob arrives on a pipe")
    thread.join()
    tap.ok(done.is_set(), "the pull ended at its deadline")
    tap.ok(wait_for(lambda: not unpack_helpers(reactor)), "the helper is gone after the pull")
    for sub in (("content", "ingest"), ("snapshots",)):
        path = os.path.join(d.root, "images", *sub)
        tap.ok(wait_for(lambda: not os.path.isdir(path) or not os.listdir(path)),
               f"nothing is left in images/{'/'.join(sub)}")


def body():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), StallingRegistry)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    host = f"127.0.0.1:{server.server_address[1]}"
    try:
        with Crispd(registries=[host]) as d, d.client() as c:
            reactor = reactor_pid(d.pid)
            check_helper(c, d, host, reactor)
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
