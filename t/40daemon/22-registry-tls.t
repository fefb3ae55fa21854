#!/usr/bin/python3
"""PullImage from a TLS registry with Basic auth: test CA, insecure, config credentials."""

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

USER = "bob"
PASSWORD = "tls-Secret-9x"
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
auth:
  htpasswd:
    realm: crisp-test
    path: {htpasswd}
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
        "-out", ca_cert, "-days", "2", "-subj", "/CN=crisp test CA")
    run("openssl", "req", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", csr,
        "-subj", "/CN=127.0.0.1")
    run("openssl", "x509", "-req", "-in", csr, "-CA", ca_cert, "-CAkey", ca_key,
        "-CAcreateserial", "-out", cert, "-days", "2", "-extfile", ext)
    return ca_cert, cert, key


def start_tls_registry(d, storage, cert, key):
    """Start docker-registry over TLS with htpasswd auth on storage; return (proc, port)."""
    htpasswd = os.path.join(d, "htpasswd")
    subprocess.run(["htpasswd", "-Bbc", htpasswd, USER, PASSWORD], check=True,
                   capture_output=True)
    config = os.path.join(d, "registry.yml")
    with open(config, "w") as f:
        f.write(CONFIG.format(storage=storage, cert=cert, key=key, htpasswd=htpasswd))
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


def pull(c, ref, **auth):
    fields = {"image": c.msg("ImageSpec", image=ref)}
    if auth:
        fields["auth"] = c.msg("AuthConfig", **auth)
    return c.call("PullImage", rpc_timeout=120, **fields).image_ref


def body():
    d = tempfile.mkdtemp(prefix="crisp-tls-")
    ca, cert, key = make_ca(d)
    with Registry() as reg:
        pushed = images.busybox_image(reg, "busybox", "latest", fmt="oci")
        want = pushed["config_digest"]
        proc, port = start_tls_registry(d, os.path.join(reg.tmpdir, "storage"), cert, key)
        host = f"127.0.0.1:{port}"
        ref = f"{host}/busybox"
        try:
            configs = {
                "ca": {"registries": {host: {"ca_file": ca}}},
                "ca+auth": {"registries": {host: {"ca_file": ca, "auth": {
                    "username": USER, "password": PASSWORD}}}},
                "insecure": {"registries": {host: {"insecure": True}}},
                "none": {},
            }
            paths = {}
            for name, cfg in configs.items():
                paths[name] = os.path.join(d, f"{name}.json")
                with open(paths[name], "w") as f:
                    json.dump(cfg, f)

            with Crispd(extra_args=["--config", paths["none"]]) as dm, dm.client() as c:
                code, details = cri.rpc_error(pull, c, ref, username=USER, password=PASSWORD)
                tap.is_(code and code.name, "UNAVAILABLE", "unknown CA: UNAVAILABLE")
                tap.like(details, r"^pull image '" + re.escape(ref) + r":latest': GET https://"
                         + re.escape(host) + r"/v2/busybox/manifests/latest: SSL certificate "
                         r"problem: unable to get local issuer certificate$",
                         "unknown CA: the certificate error is reported")

            with Crispd(extra_args=["--config", paths["ca"]]) as dm, dm.client() as c:
                code, details = cri.rpc_error(pull, c, ref)
                tap.is_(code and code.name, "UNAUTHENTICATED", "test CA, no credentials")
                tap.is_(pull(c, ref, username=USER, password=PASSWORD), want,
                        "test CA and Basic auth from the request")
                tap.ok(PASSWORD not in dm.log(), "daemon log lacks the password")

            with Crispd(extra_args=["--config", paths["ca+auth"]]) as dm, dm.client() as c:
                tap.is_(pull(c, ref), want, "Basic auth from the config file")
                tap.ok(PASSWORD not in dm.log(), "daemon log lacks the config password")

            with Crispd(extra_args=["--config", paths["insecure"]]) as dm, dm.client() as c:
                tap.is_(pull(c, ref, username=USER, password=PASSWORD), want,
                        "insecure: unverified TLS")
                tap.ok("using plain HTTP" not in dm.log(), "insecure TLS host stays on TLS")
        finally:
            os.kill(proc.pid, signal.SIGTERM)
            proc.wait(timeout=10)
    subprocess.run(["rm", "-rf", d], check=True)


tap.run(body)
