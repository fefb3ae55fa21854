"""A registry stand-in for tests that need what a real registry will not do.

StandIn starts standin_server.py (see its docstring) on 127.0.0.1 and
offers the push_blob/push_manifest/host interface of registry.Registry, so
images.push_image() and push_index() work with it. It stores what it is
given without checks: hostile manifests, wrong sizes, digests that do not
match. It also counts blob requests and how many were in flight at once.
"""

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "standin_server.py")


def sha256_digest(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


class StandIn:
    """A standin_server.py process; blob_delay is seconds each blob waits before its body."""

    def __init__(self, blob_delay=0.0):
        self.tmpdir = tempfile.mkdtemp(prefix="crisp-standin-")
        self.root = os.path.join(self.tmpdir, "root")
        os.makedirs(os.path.join(self.root, "blobs"))
        os.makedirs(os.path.join(self.root, "manifests"))
        self.log_path = os.path.join(self.tmpdir, "requests.jsonl")
        open(self.log_path, "w").close()
        port_file = os.path.join(self.tmpdir, "port")
        self.proc = subprocess.Popen([sys.executable, SCRIPT, "--root", self.root,
                                      "--port-file", port_file, "--log", self.log_path,
                                      "--blob-delay", str(blob_delay)],
                                     stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while not os.path.exists(port_file):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("standin_server.py did not start")
            time.sleep(0.02)
        with open(port_file) as f:
            self.port = int(f.read())

    @property
    def host(self):
        return f"127.0.0.1:{self.port}"

    def push_blob(self, repo, data):
        """Store data as a blob (for every repository) and return its digest."""
        digest = sha256_digest(data)
        with open(os.path.join(self.root, "blobs", digest), "wb") as f:
            f.write(data)
        return digest

    def push_manifest(self, repo, reference, body, media_type):
        """Serve body as repo's manifest under reference and under its digest; return the digest."""
        digest = sha256_digest(body)
        directory = os.path.join(self.root, "manifests", repo)
        os.makedirs(directory, exist_ok=True)
        for name in {reference, digest}:
            with open(os.path.join(directory, name), "wb") as f:
                f.write(body)
            with open(os.path.join(directory, name + ".type"), "w") as f:
                f.write(media_type)
        return digest

    def stall(self, digests):
        """Make these blobs stop halfway until stall(()) lifts it."""
        with open(os.path.join(self.root, "stall.tmp"), "w") as f:
            f.write("".join(d + "\n" for d in digests))
        os.rename(os.path.join(self.root, "stall.tmp"), os.path.join(self.root, "stall"))

    def requests(self):
        """Return the requests received so far, as dicts (method, path, in_flight for blobs)."""
        with open(self.log_path) as f:
            return [json.loads(line) for line in f]

    def blob_gets(self, digest):
        """Return how many GET requests asked for this blob."""
        return sum(1 for r in self.requests()
                   if r["method"] == "GET" and r["path"].endswith("/blobs/" + digest))

    def max_in_flight(self):
        """Return the largest number of blob requests in flight at once."""
        return max((r.get("in_flight", 0) for r in self.requests()), default=0)

    def stop(self):
        """Stop the process by its PID, wait for it and remove the directory."""
        if self.proc.returncode is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=10)
        shutil.rmtree(self.tmpdir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
