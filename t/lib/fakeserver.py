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

FORWARDED_HEADERS = ("Content-Type", "Docker-Content-Digest", "Content-Length", "Location")


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

    def _forward(self, port, path):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        headers = {k: v for k, v in self.headers.items() if k.lower() in ("accept", "authorization")}
        conn.request(self.command, path, headers=headers)
        resp = conn.getresponse()
        data = resp.read()
        conn.close()
        out = {k: resp.headers[k] for k in FORWARDED_HEADERS if resp.headers.get(k)}
        out.pop("Content-Length", None)
        self._reply(resp.status, data, out)

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
        if cfg["fail_first"] > 0 and self.path.startswith("/v2/"):
            cfg["fail_first"] -= 1
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
    args = p.parse_args()
    server = Server(("127.0.0.1", 0), Handler)
    server.cfg = {"log": args.log, "lock": threading.Lock(), "backend": args.backend,
                  "bearer": args.bearer, "anonymous": args.anonymous, "user": args.user,
                  "password": args.password, "refresh_token": args.refresh_token,
                  "static_token": args.static_token, "token": "issued-" + secrets.token_hex(8),
                  "redirect": args.redirect, "fail_first": args.fail_first,
                  "stall_blobs": args.stall_blobs, "proxy": args.proxy}
    with open(args.port_file + ".tmp", "w") as f:
        f.write(str(server.server_address[1]))
    import os
    os.rename(args.port_file + ".tmp", args.port_file)
    server.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
