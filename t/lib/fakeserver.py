#!/usr/bin/python3
"""A small HTTP server on 127.0.0.1 that stands in front of a test registry.

Run as a separate process (so a test can stop it by PID); see FakeServer.
Modes, combined by options:

--backend URL      forward GET and HEAD requests to a plain-HTTP registry
--bearer           require a Bearer token, issued by /token on this server:
                   GET with --user/--password as Basic credentials (or
                   anonymously with --anonymous), or POST with
                   grant_type=refresh_token and --refresh-token; a request
                   bearing --static-token is accepted as is
--redirect URL     answer blob GETs with 307 to URL + the same path
--fail-first N     answer the first N requests under /v2/ with 503
--stall-blobs      send a blob's headers, then nothing
--cut-blobs N      answer the first N blob GETs with 200, the full
                   Content-Length and Docker-Content-Digest, but send only
                   the first half (length // 2 bytes) of the blob fetched
                   whole from --backend, then close the connection
--cut-digest D     make --cut-blobs count and cut only GETs of blob D
                   (sha256:...), so other blobs are forwarded whole
--ignore-range     drop the Range header before forwarding, so the
                   backend returns 200 with the whole body. Without this
                   option a Range header is forwarded, and the backend's
                   206 status and Content-Range header are sent back.
--partial-blobs    answer a blob GET without Range with 206 and a Content-Range
                   covering the whole blob, a status the request cannot have
--shift-ranges N   forward the first N Range headers one byte further on
                   ("bytes=K-" becomes "bytes=K+1-"), so the 206 starts
                   at another byte than the client requested
--proxy            act as a forward HTTP proxy for 127.0.0.1 targets only

Every request is appended to --log as one JSON line: method, path and
headers.
"""

import argparse
import base64
import http.client
import http.server
import json
import secrets
import socketserver
import sys
import threading
import time
import urllib.parse

FORWARDED_HEADERS = ("Content-Type", "Docker-Content-Digest", "Content-Length", "Location",
                     "Content-Range")


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def _record(self, body=b""):
        cfg = self.server.cfg
        with cfg["lock"]:
            with open(cfg["log"], "a") as f:
                f.write(json.dumps({"method": self.command, "path": self.path,
                                    "headers": dict(self.headers.items()),
                                    "body": body.decode(errors="replace")}) + "\n")

    def _reply(self, status, body=b"", headers=None):
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _challenge(self):
        port = self.server.server_address[1]
        realm = f"http://127.0.0.1:{port}/token"
        self._reply(401, b'{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}',
                    {"Content-Type": "application/json",
                     "WWW-Authenticate": f'Bearer realm="{realm}",service="fake-registry",'
                                         f'scope="repository:busybox:pull"'})

    def _token(self, body):
        cfg = self.server.cfg
        auth = self.headers.get("Authorization", "")
        granted = False
        if self.command == "GET":
            if auth.startswith("Basic "):
                user, _, password = base64.b64decode(auth[6:]).decode().partition(":")
                granted = user == cfg["user"] and password == cfg["password"]
            else:
                granted = cfg["anonymous"]
        else:
            form = urllib.parse.parse_qs(body.decode())
            granted = (form.get("grant_type") == ["refresh_token"] and
                       form.get("refresh_token") == [cfg["refresh_token"]])
        if not granted:
            self._reply(401, b'{"details":"invalid credentials"}',
                        {"Content-Type": "application/json"})
            return
        key = "access_token" if self.command == "POST" else "token"
        self._reply(200, json.dumps({key: cfg["token"]}).encode(),
                    {"Content-Type": "application/json"})

    def _proxy(self):
        url = urllib.parse.urlsplit(self.path)
        if url.hostname != "127.0.0.1":
            self._reply(403, b"only 127.0.0.1 targets")
            return
        self._forward(url.port, urllib.parse.urlunsplit(("", "", url.path, url.query, "")))

    def _shifted(self, value):
        """Return the Range value one byte further on while --shift-ranges lasts."""
        cfg = self.server.cfg
        with cfg["lock"]:
            if cfg["shift_ranges"] <= 0 or not value.startswith("bytes="):
                return value
            cfg["shift_ranges"] -= 1
        first, rest = value[len("bytes="):].split("-", 1)
        return f"bytes={int(first) + 1}-{rest}"

    def _fetch(self, port, path, forward_range):
        """Send this request to the backend and return (status, headers to forward, body)."""
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        names = ["accept", "authorization"]
        if forward_range:
            names.append("range")
        headers = {k: v for k, v in self.headers.items() if k.lower() in names}
        for k in list(headers):
            if k.lower() == "range":
                headers[k] = self._shifted(headers[k])
        conn.request(self.command, path, headers=headers)
        resp = conn.getresponse()
        data = resp.read()
        conn.close()
        out = {k: resp.headers[k] for k in FORWARDED_HEADERS if resp.headers.get(k)}
        out.pop("Content-Length", None)
        return resp.status, out, data

    def _forward(self, port, path):
        status, headers, data = self._fetch(port, path, not self.server.cfg["ignore_range"])
        self._reply(status, data, headers)

    def _take_cut(self):
        """Return True when this request is a blob GET that --cut-blobs should cut."""
        cfg = self.server.cfg
        if self.command != "GET" or "/blobs/sha256:" not in self.path:
            return False
        if cfg["cut_digest"] and not self.path.endswith("/blobs/" + cfg["cut_digest"]):
            return False
        with cfg["lock"]:
            if cfg["cut_blobs"] <= 0:
                return False
            cfg["cut_blobs"] -= 1
            return True

    def _cut(self, port):
        """Send the status, headers and first half of the whole blob, then close the connection."""
        status, headers, data = self._fetch(port, self.path, False)
        if status != 200:
            self._reply(status, data, headers)
            return
        self.send_response(200)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data[:len(data) // 2])
        self.wfile.flush()
        self.close_connection = True

    def _take_failure(self):
        """Return True when --fail-first has failures left, using one of them."""
        cfg = self.server.cfg
        with cfg["lock"]:
            if cfg["fail_first"] <= 0:
                return False
            cfg["fail_first"] -= 1
            return True

    def _handle(self):
        cfg = self.server.cfg
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        self._record(body)
        if cfg["proxy"]:
            self._proxy()
            return
        if self.path.startswith("/token"):
            self._token(body)
            return
        if self.path.startswith("/v2/") and self._take_failure():
            self._reply(503, b'{"errors":[{"code":"UNAVAILABLE","message":"try later"}]}',
                        {"Content-Type": "application/json"})
            return
        if cfg["bearer"]:
            auth = self.headers.get("Authorization", "")
            if auth not in (f"Bearer {cfg['token']}", f"Bearer {cfg['static_token']}"):
                self._challenge()
                return
        is_blob = "/blobs/sha256:" in self.path
        if is_blob and cfg["redirect"]:
            self._reply(307, b"", {"Location": cfg["redirect"] + self.path})
            return
        if is_blob and cfg["stall_blobs"]:
            self.send_response(200)
            self.send_header("Content-Length", "1000000")
            self.send_header("Content-Type", "application/octet-stream")
            self.end_headers()
            self.wfile.flush()
            time.sleep(3600)
            return
        backend = urllib.parse.urlsplit(cfg["backend"])
        if is_blob and cfg["partial_blobs"] and "Range" not in self.headers:
            status, headers, data = self._fetch(backend.port, self.path, False)
            if status == 200:
                headers["Content-Range"] = f"bytes 0-{len(data) - 1}/{len(data)}"
                status = 206
            self._reply(status, data, headers)
            return
        if self._take_cut():
            self._cut(backend.port)
            return
        self._forward(backend.port, self.path)

    do_GET = _handle
    do_HEAD = _handle
    do_POST = _handle


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port-file", required=True)
    p.add_argument("--log", required=True)
    p.add_argument("--backend")
    p.add_argument("--bearer", action="store_true")
    p.add_argument("--anonymous", action="store_true")
    p.add_argument("--user", default="")
    p.add_argument("--password", default="")
    p.add_argument("--refresh-token", default="")
    p.add_argument("--static-token", default="")
    p.add_argument("--redirect")
    p.add_argument("--fail-first", type=int, default=0)
    p.add_argument("--stall-blobs", action="store_true")
    p.add_argument("--proxy", action="store_true")
    p.add_argument("--cut-blobs", type=int, default=0)
    p.add_argument("--cut-digest")
    p.add_argument("--ignore-range", action="store_true")
    p.add_argument("--shift-ranges", type=int, default=0)
    p.add_argument("--partial-blobs", action="store_true")
    args = p.parse_args()
    server = Server(("127.0.0.1", 0), Handler)
    server.cfg = {"log": args.log, "lock": threading.Lock(), "backend": args.backend,
                  "bearer": args.bearer, "anonymous": args.anonymous, "user": args.user,
                  "password": args.password, "refresh_token": args.refresh_token,
                  "static_token": args.static_token, "token": "issued-" + secrets.token_hex(8),
                  "redirect": args.redirect, "fail_first": args.fail_first,
                  "stall_blobs": args.stall_blobs, "proxy": args.proxy,
                  "cut_blobs": args.cut_blobs, "cut_digest": args.cut_digest,
                  "ignore_range": args.ignore_range, "shift_ranges": args.shift_ranges,
                  "partial_blobs": args.partial_blobs}
    with open(args.port_file + ".tmp", "w") as f:
        f.write(str(server.server_address[1]))
    import os
    os.rename(args.port_file + ".tmp", args.port_file)
    server.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
