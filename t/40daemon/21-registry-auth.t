#!/usr/bin/python3
"""PullImage through a Bearer token server with each AuthConfig form, and config credentials."""

import base64
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))

import cri  # noqa: E402
import images  # noqa: E402
import tap  # noqa: E402
from daemon import Crispd  # noqa: E402
from fakes import FakeServer  # noqa: E402
from registry import Registry  # noqa: E402

USER = "alice"
PASSWORD = "pw-Secret-1x"
REFRESH = "rt-Secret-2x"
STATIC = "rg-Secret-3x"
AUTH_B64 = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
SECRETS = (PASSWORD, REFRESH, STATIC, AUTH_B64)


def pull(c, ref, **auth):
    fields = {"image": c.msg("ImageSpec", image=ref)}
    if auth:
        fields["auth"] = c.msg("AuthConfig", **auth)
    return c.call("PullImage", rpc_timeout=120, **fields).image_ref


def remove(c, ref):
    c.call("RemoveImage", image=c.msg("ImageSpec", image=ref))


def body():
    with Registry() as reg:
        pushed = images.busybox_image(reg, "busybox", "latest", fmt="oci")
        front = FakeServer("--backend", f"http://{reg.host}", "--bearer", "--user", USER,
                           "--password", PASSWORD, "--refresh-token", REFRESH,
                           "--static-token", STATIC)
        anon = FakeServer("--backend", f"http://{reg.host}", "--bearer", "--anonymous")
        config_auth = FakeServer("--backend", f"http://{reg.host}", "--bearer", "--user", USER,
                                 "--password", PASSWORD)
        with front, anon, config_auth:
            config = os.path.join(front.tmpdir, "crisp.json")
            with open(config, "w") as f:
                json.dump({"registries": {
                    front.host: {"insecure": True},
                    anon.host: {"insecure": True},
                    config_auth.host: {"insecure": True,
                                       "auth": {"username": USER, "password": PASSWORD}}}}, f)
            ref = f"{front.host}/busybox"
            want = pushed["config_digest"]
            with Crispd(extra_args=["--config", config]) as d, d.client() as c:
                code, details = cri.rpc_error(pull, c, ref)
                tap.is_(code and code.name, "UNAUTHENTICATED", "no credentials: UNAUTHENTICATED")
                tap.is_(details,
                        f"pull image '{ref}:latest': get a registry token for "
                        f"http://{front.host}/v2/busybox/manifests/latest: GET "
                        f"http://{front.host}/token?service=fake-registry&"
                        f"scope=repository%3Abusybox%3Apull: HTTP status 401",
                        "no credentials: the token server's refusal is reported")

                tap.is_(pull(c, ref, username=USER, password=PASSWORD), want,
                        "username and password")
                tokens = [r for r in front.requests() if r["path"].startswith("/token")]
                tap.is_(tokens[-1]["headers"].get("Authorization"), f"Basic {AUTH_B64}",
                        "the realm gets Basic credentials")
                remove(c, ref)

                tap.is_(pull(c, ref, auth=AUTH_B64), want, "auth (base64 user:pass)")
                remove(c, ref)

                tap.is_(pull(c, ref, identity_token=REFRESH), want, "identity_token")
                posts = [r for r in front.requests() if r["method"] == "POST"]
                tap.is_(len(posts), 1, "identity_token: one OAuth2 POST")
                tap.like(posts[0]["body"], r"^grant_type=refresh_token&client_id=crisp&"
                         r"service=fake-registry&scope=repository%3Abusybox%3Apull&"
                         r"refresh_token=" + REFRESH + "$", "identity_token: the POST form")
                remove(c, ref)

                before = len([r for r in front.requests() if r["path"].startswith("/token")])
                tap.is_(pull(c, ref, registry_token=STATIC), want, "registry_token")
                after = len([r for r in front.requests() if r["path"].startswith("/token")])
                tap.is_(after, before, "registry_token: used as is, no token request")
                remove(c, ref)

                code, details = cri.rpc_error(pull, c, ref, username=USER, password="wrong")
                tap.is_(code and code.name, "UNAUTHENTICATED", "wrong password: UNAUTHENTICATED")

                tap.is_(pull(c, f"{anon.host}/busybox"), want, "anonymous token")
                tap.is_(pull(c, f"{config_auth.host}/busybox"), want,
                        "credentials from the config file")

                log = d.log()
                for secret in SECRETS:
                    tap.ok(secret not in log, f"daemon log lacks secret {secret[:4]}...")


tap.run(body)
