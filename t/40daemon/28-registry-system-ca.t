#!/usr/bin/python3
"""HTTPS with the system CAs: SSL_CERT_FILE and SSL_CERT_DIR replace them.

With no ca_file configured, crispd verifies registries against the
system CAs. To test that without touching the machine's CA store, crispd
runs with SSL_CERT_FILE or SSL_CERT_DIR pointing at a test CA. Debian's
libcurl alone ignores both (it is built with
--with-ca-bundle=/etc/ssl/certs/ca-certificates.crt and loads that file
instead of OpenSSL's default paths), so crispd passes them to libcurl
itself, as Go's crypto/x509 and so containerd honour them.
"""

import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))

import cri  # noqa: E402
import images  # noqa: E402
import tap  # noqa: E402
from daemon import Crispd  # noqa: E402
from registry import REGISTRY_BINARY, Registry  # noqa: E402

LISTENING = re.compile(r'msg="listening on 127\.0\.0\.1:(\d+)')

CONFIG = """\
version: 0.1
log:
  level: info
storage:
  filesystem:
    rootdirectory: {storage}
http:
  addr: 127.0.0.1:0
  secret: test-secret
  tls:
    certificate: {cert}
    key: {key}
"""


def make_ca(d):
    """Create a test CA and a server certificate for 127.0.0.1 signed by it; return paths."""
    ca_key, ca_cert = os.path.join(d, "ca.key"), os.path.join(d, "ca.pem")
    key, csr, cert = (os.path.join(d, n) for n in ("server.key", "server.csr", "server.pem"))
    ext = os.path.join(d, "ext.cnf")
    with open(ext, "w") as f:
        f.write("subjectAltName=IP:127.0.0.1\n")
    run = lambda *a: subprocess.run(a, check=True, capture_output=True)  # noqa: E731
    run("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", ca_key,
        "-out", ca_cert, "-days", "2", "-subj", "/CN=crisp system CA test")
    run("openssl", "req", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", csr,
        "-subj", "/CN=127.0.0.1")
    run("openssl", "x509", "-req", "-in", csr, "-CA", ca_cert, "-CAkey", ca_key,
        "-CAcreateserial", "-out", cert, "-days", "2", "-extfile", ext)
    return ca_cert, cert, key


def start_tls_registry(d, storage, cert, key):
    """Start docker-registry over TLS on storage; return (proc, port)."""
    config = os.path.join(d, "registry.yml")
    with open(config, "w") as f:
        f.write(CONFIG.format(storage=storage, cert=cert, key=key))
    log_path = os.path.join(d, "registry.log")
    env = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")}
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([REGISTRY_BINARY, "serve", config], stdout=log, stderr=log,
                                stdin=subprocess.DEVNULL, env=env)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with open(log_path, errors="replace") as f:
            m = LISTENING.search(f.read())
        if m:
            return proc, int(m.group(1))
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGTERM)
    proc.wait()
    raise RuntimeError("TLS registry did not start")


def pull_with_env(ref, config, env):
    """Start crispd with env added to its environment; return PullImage's (code name, details)."""
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        with Crispd(extra_args=["--config", config]) as d, d.client() as c:
            code, details = cri.rpc_error(c.call, "PullImage", image=c.msg("ImageSpec", image=ref),
                                          rpc_timeout=120)
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return (code.name if code else None), details


def body():
    d = tempfile.mkdtemp(prefix="crisp-sysca-")
    ca, cert, key = make_ca(d)
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                    "-keyout", os.path.join(d, "other.key"), "-out", os.path.join(d, "other.pem"),
                    "-days", "2", "-subj", "/CN=crisp other CA"], check=True, capture_output=True)
    cert_dir = os.path.join(d, "certs")
    os.mkdir(cert_dir)
    subprocess.run(["openssl", "rehash", cert_dir], check=True, capture_output=True)
    with Registry() as reg:
        images.busybox_image(reg, "busybox", "latest", fmt="oci")
        proc, port = start_tls_registry(d, os.path.join(reg.tmpdir, "storage"), cert, key)
        host = f"127.0.0.1:{port}"
        ref = f"{host}/busybox"
        config = os.path.join(d, "none.json")
        with open(config, "w") as f:
            json.dump({}, f)
        unknown = (f"pull image '{ref}:latest': GET https://{host}/v2/busybox/manifests/latest: "
                   f"SSL certificate problem: unable to get local issuer certificate")
        try:
            tap.is_(pull_with_env(ref, config, {}), ("UNAVAILABLE", unknown),
                    "system CAs only: the test CA is unknown")
            want = (None, None)
            tap.is_(pull_with_env(ref, config, {"SSL_CERT_FILE": ca}), want,
                    "SSL_CERT_FILE names the test CA: the pull completes")
            tap.is_(pull_with_env(ref, config, {"SSL_CERT_FILE": os.path.join(d, "other.pem")}),
                    ("UNAVAILABLE", unknown), "SSL_CERT_FILE with another CA: rejected")
            tap.is_(pull_with_env(ref, config, {"SSL_CERT_DIR": cert_dir}), ("UNAVAILABLE", unknown),
                    "SSL_CERT_DIR without the CA: rejected")
            subprocess.run(["cp", ca, cert_dir], check=True)
            subprocess.run(["openssl", "rehash", cert_dir], check=True, capture_output=True)
            tap.is_(pull_with_env(ref, config, {"SSL_CERT_DIR": f"/nonexistent:{cert_dir}"}), want,
                    "SSL_CERT_DIR lists the test CA's directory: the pull completes")
        finally:
            os.kill(proc.pid, signal.SIGTERM)
            proc.wait(timeout=10)
    subprocess.run(["rm", "-rf", d], check=True)


tap.run(body)
