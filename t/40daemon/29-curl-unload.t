#!/usr/bin/python3
"""The reactor unloads libcurl a few seconds after its last pull and loads it again for the next."""

import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))

import images  # noqa: E402
import tap  # noqa: E402
from daemon import Crispd, reactor_pid  # noqa: E402
from registry import Registry  # noqa: E402

# CURL_UNLOAD_DELAY_S in src/image/pull.c is 5; allow for a loaded machine.
UNLOAD_WAIT_S = 20


def maps_libcurl(pid):
    with open(f"/proc/{pid}/maps") as f:
        return any("libcurl" in line for line in f)


def pull(c, ref):
    return c.call("PullImage", image=c.msg("ImageSpec", image=ref), rpc_timeout=120).image_ref


def body():
    with Registry() as reg:
        first = images.busybox_image(reg, "first", "latest")
        second = images.busybox_image(reg, "second", "latest")
        with Crispd(registries=[reg]) as d, d.client() as c:
            reactor = reactor_pid(d.pid)
            tap.ok(reactor is not None, "the keeper runs a reactor")
            tap.is_(maps_libcurl(reactor), False, "an idle reactor does not map libcurl")

            tap.is_(pull(c, f"{reg.host}/first:latest"), first["config_digest"], "first pull")
            tap.is_(maps_libcurl(reactor), True, "the reactor maps libcurl after a pull")

            deadline = time.monotonic() + UNLOAD_WAIT_S
            while maps_libcurl(reactor) and time.monotonic() < deadline:
                time.sleep(0.2)
            tap.is_(maps_libcurl(reactor), False,
                    f"libcurl is unloaded within {UNLOAD_WAIT_S} s of the last pull")

            tap.is_(pull(c, f"{reg.host}/second:latest"), second["config_digest"],
                    "a pull after the unload loads libcurl again")
            tap.is_(maps_libcurl(reactor), True, "the reactor maps libcurl again")
            tap.is_(reactor_pid(d.pid), reactor, "the reactor did not restart")
            tap.is_(c.call("Version").runtime_name, "crisp", "the reactor still serves calls")


tap.run(body)
