#!/usr/bin/python3
"""A registry stand-in on 127.0.0.1 that serves manifests and blobs from a directory.

Run as a separate process (so a test can kill it by PID); see standin.py,
which writes the directory. Layout of --root:

  blobs/<digest>                       blob bodies, served as they are
  manifests/<repo>/<reference>         manifest bodies, by tag or digest
  manifests/<repo>/<reference>.type    their Content-Type
  stall                                digests, one a line: such a blob
                                       sends its headers and the first
                                       half of its body, then waits until
                                       its line is gone from the file

The server checks nothing: it sends what the files hold, so a test can
serve a body that does not match its digest or its manifest size.
--blob-delay makes every blob wait that many seconds before its body, so
that concurrent downloads overlap. Every request is appended to --log as
a JSON line: method, path, and for a blob the number of blob requests in
flight when it arrived ("in_flight", counting itself).
"""

import argparse
import http.server
import json
import os
import socketserver
import sys
import threading
import time

STALL_LIMIT_S = 600


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def _record(self, entry):
        cfg = self.server.cfg
        with cfg["lock"]:
            with open(cfg["log"], "a") as f:
                f.write(json.dumps(entry) + "\n")

    def _not_found(self):
        body = b'{"errors":[{"code":"NOT_FOUND","message":"not found"}]}'
        self.send_response(404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _stalled(self, digest):
        try:
            with open(os.path.join(self.server.cfg["root"], "stall")) as f:
                return digest in f.read().split()
        except FileNotFoundError:
            return False

    def _blob(self, digest):
        cfg = self.server.cfg
        path = os.path.join(cfg["root"], "blobs", os.path.basename(digest))
        with cfg["lock"]:
            cfg["in_flight"] += 1
            in_flight = cfg["in_flight"]
        try:
            self._record({"method": self.command, "path": self.path, "in_flight": in_flight})
            if not os.path.exists(path):
                self._not_found()
                return
            with open(path, "rb") as f:
                data = f.read()
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Docker-Content-Digest", digest)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if self.command == "HEAD":
                return
            time.sleep(cfg["blob_delay"])
            if self._stalled(digest):
                half = len(data) // 2
                self.wfile.write(data[:half])
                self.wfile.flush()
                deadline = time.monotonic() + STALL_LIMIT_S
                while self._stalled(digest) and time.monotonic() < deadline:
                    time.sleep(0.1)
                data = data[half:]
            self.wfile.write(data)
        finally:
            with cfg["lock"]:
                cfg["in_flight"] -= 1

    def _manifest(self, repo, reference):
        path = os.path.join(self.server.cfg["root"], "manifests", repo, reference)
        self._record({"method": self.command, "path": self.path})
        if ".." in repo.split("/") or not os.path.isfile(path):
            self._not_found()
            return
        with open(path, "rb") as f:
            data = f.read()
        with open(path + ".type") as f:
            media_type = f.read().strip()
        self.send_response(200)
        self.send_header("Content-Type", media_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _handle(self):
        path = self.path.split("?", 1)[0]
        if path in ("/v2", "/v2/"):
            self._record({"method": self.command, "path": self.path})
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(b"{}")
            return
        if path.startswith("/v2/") and "/blobs/" in path:
            self._blob(path.rsplit("/blobs/", 1)[1])
            return
        if path.startswith("/v2/") and "/manifests/" in path:
            repo, reference = path[4:].rsplit("/manifests/", 1)
            self._manifest(repo, reference)
            return
        self._record({"method": self.command, "path": self.path})
        self._not_found()

    do_GET = _handle
    do_HEAD = _handle


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--root", required=True)
    p.add_argument("--port-file", required=True)
    p.add_argument("--log", required=True)
    p.add_argument("--blob-delay", type=float, default=0.0)
    args = p.parse_args()
    server = Server(("127.0.0.1", 0), Handler)
    server.cfg = {"root": args.root, "log": args.log, "lock": threading.Lock(),
                  "blob_delay": args.blob_delay, "in_flight": 0}
    with open(args.port_file + ".tmp", "w") as f:
        f.write(str(server.server_address[1]))
    os.rename(args.port_file + ".tmp", args.port_file)
    server.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
