"""Run a private Docker Distribution registry on loopback for image tests.

The registry is Debian's docker-registry (Distribution 2.8) serving plain HTTP
on 127.0.0.1 with no authentication, storing blobs in a temporary directory.
"""

import hashlib
import http.client
import os
import re
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.parse

REGISTRY_BINARY = os.environ.get("DOCKER_REGISTRY", "/usr/bin/docker-registry")
START_TIMEOUT = 10.0
STOP_TIMEOUT = 10.0

# Distribution 2.8 logs this line once its listener is bound (registry/registry.go,
# ListenAndServe), with the port the kernel picked for "127.0.0.1:0".
_LISTENING_RE = re.compile(r'msg="listening on 127\.0\.0\.1:(\d+)"')

_CONFIG = """\
version: 0.1
log:
  level: info
storage:
  filesystem:
    rootdirectory: {storage}
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: 127.0.0.1:0
  secret: {secret}
"""


class RegistryError(Exception):
    """An unexpected HTTP status from the registry, with the response body."""

    def __init__(self, method, path, status, body):
        super().__init__(f"{method} {path} returned HTTP {status}: {body[:500]!r}")
        self.status = status
        self.body = body


def sha256_digest(data):
    """Return the OCI digest string ``sha256:<hex>`` of data."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


class Registry:
    """A docker-registry process on 127.0.0.1 with its own temporary storage.

    The constructor starts the process and waits until ``GET /v2/`` returns
    200. stop() ends it. As a context manager it stops the process on exit.
    """

    def __init__(self):
        self.tmpdir = tempfile.mkdtemp(prefix="crisp-registry-")
        self.log_path = os.path.join(self.tmpdir, "registry.log")
        self.port = None
        self.proc = None
        config_path = os.path.join(self.tmpdir, "config.yml")
        with open(config_path, "w") as f:
            f.write(_CONFIG.format(storage=os.path.join(self.tmpdir, "storage"),
                                   secret=secrets.token_hex(16)))

        # REGISTRY_* variables override the configuration file, so none may
        # leak in from the caller's environment (an address other than
        # loopback, for one).
        env = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")}
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen([REGISTRY_BINARY, "serve", config_path],
                                         stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                         env=env)
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise

    @property
    def pid(self):
        """Process ID of the registry."""
        return self.proc.pid

    @property
    def host(self):
        """Registry address as an image reference uses it: ``127.0.0.1:PORT``."""
        return f"127.0.0.1:{self.port}"

    def log(self):
        """Return the registry's log so far (its stdout and stderr)."""
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def _wait_ready(self):
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{REGISTRY_BINARY} exited with status {self.proc.returncode} "
                                   f"before listening; its log:\n{self.log()}")
            if self.port is None:
                match = _LISTENING_RE.search(self.log())
                if match:
                    self.port = int(match.group(1))
            if self.port is not None:
                try:
                    status, _, _ = self.request("GET", "/v2/")
                    if status == 200:
                        return
                except OSError:
                    pass
            time.sleep(0.05)
        raise RuntimeError(f"{REGISTRY_BINARY} (pid {self.pid}) did not return 200 for "
                           f"GET /v2/ within {START_TIMEOUT} s; its log:\n{self.log()}")

    def stop(self):
        """Send SIGTERM to the registry process, wait for it and remove its storage.

        Returns the exit status as Popen reports it (negative for a signal).
        Calling stop() again does nothing and returns the same status.
        """
        if self.proc is None:
            return None
        if self.proc.returncode is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
                raise RuntimeError(f"{REGISTRY_BINARY} (pid {self.pid}) ignored SIGTERM "
                                   f"for {STOP_TIMEOUT} s and was killed")
        if os.path.isdir(self.tmpdir):
            shutil.rmtree(self.tmpdir)
        return self.proc.returncode

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()

    def request(self, method, path, body=None, headers=None):
        """Send one HTTP request to the registry and return (status, headers, body bytes).

        path is absolute (``/v2/...``) or a full ``http://127.0.0.1:PORT/...``
        URL as found in a Location header. Any other host is rejected.
        """
        url = urllib.parse.urlsplit(path)
        if url.scheme or url.netloc:
            if url.scheme != "http" or url.netloc != self.host:
                raise ValueError(f"request to {path!r} rejected: it is not this registry "
                                 f"({self.host})")
            path = urllib.parse.urlunsplit(("", "", url.path, url.query, ""))
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            response = conn.getresponse()
            return response.status, response.headers, response.read()
        finally:
            conn.close()

    def get(self, path, accept=None):
        """GET path and return (headers, body), raising RegistryError unless the status is 200.

        accept sets the Accept header, which a manifest GET needs to get
        anything but the oldest schema.
        """
        headers = {"Accept": accept} if accept else {}
        status, response_headers, body = self.request("GET", path, headers=headers)
        if status != 200:
            raise RegistryError("GET", path, status, body)
        return response_headers, body

    def push_blob(self, repo, data):
        """Upload data as a blob of repo in one monolithic PUT and return its digest."""
        digest = sha256_digest(data)
        path = f"/v2/{repo}/blobs/uploads/"
        status, headers, body = self.request("POST", path)
        if status != 202:
            raise RegistryError("POST", path, status, body)

        location = headers["Location"]
        separator = "&" if "?" in location else "?"
        upload = f"{location}{separator}digest={urllib.parse.quote(digest)}"
        status, headers, body = self.request(
            "PUT", upload, body=data,
            headers={"Content-Type": "application/octet-stream",
                     "Content-Length": str(len(data))})
        if status != 201:
            raise RegistryError("PUT", upload, status, body)
        if headers.get("Docker-Content-Digest") != digest:
            raise RuntimeError(f"registry stored blob as {headers.get('Docker-Content-Digest')}, "
                               f"expected {digest}")
        return digest

    def push_manifest(self, repo, reference, body, media_type):
        """PUT body as the manifest repo:reference (a tag or digest) and return its digest."""
        digest = sha256_digest(body)
        path = f"/v2/{repo}/manifests/{reference}"
        status, headers, response = self.request("PUT", path, body=body,
                                                 headers={"Content-Type": media_type})
        if status != 201:
            raise RegistryError("PUT", path, status, response)
        if headers.get("Docker-Content-Digest") != digest:
            raise RuntimeError(f"registry stored manifest as "
                               f"{headers.get('Docker-Content-Digest')}, expected {digest}")
        return digest
