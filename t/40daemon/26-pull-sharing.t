#!/usr/bin/python3
"""Concurrent pulls: parallel layer downloads, shared downloads, one caller cancelling."""

import json
import os
import sys
import tempfile
import threading

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))

import cri  # noqa: E402
import images  # noqa: E402
import tap  # noqa: E402
from daemon import Crispd  # noqa: E402
from standin import StandIn  # noqa: E402

# Each blob waits this long before its body, so that downloads overlap.
BLOB_DELAY_S = 0.6


def six_layer_image(reg, repo, label):
    layers = [[images.regular(f"{label}-{i}", f"{label} layer {i}\n".encode())]
              for i in range(6)]
    return images.push_image(reg, repo, "latest", layers, config_overrides={"Labels": {"v": label}})


def in_flight_since(reg, start):
    return max((r.get("in_flight", 0) for r in reg.requests()[start:]), default=0)


def pull(d, ref, results, key, rpc_timeout=120):
    """PullImage on a client of its own; store (image_ref, None) or (None, (code, details))."""
    with d.client() as c:
        try:
            resp = c.call("PullImage", image=c.msg("ImageSpec", image=ref), rpc_timeout=rpc_timeout)
            results[key] = (resp.image_ref, None)
        except cri.grpc.RpcError as error:
            results[key] = (None, (error.code().name, error.details()))


def concurrent_pulls(d, jobs):
    """Run pull() for each (key, ref, rpc_timeout) at once; return the results by key."""
    results = {}
    threads = [threading.Thread(target=pull, args=(d, ref, results, key, timeout))
               for key, ref, timeout in jobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def check_parallel(reg):
    six = six_layer_image(reg, "six", "six")
    ref = f"{reg.host}/six:latest"

    start = len(reg.requests())
    with Crispd(registries=[reg]) as d, d.client() as c:
        resp = c.call("PullImage", image=c.msg("ImageSpec", image=ref), rpc_timeout=120)
        tap.is_(resp.image_ref, six["config_digest"], "six layers: the pull completes")
    tap.is_(in_flight_since(reg, start), 3, "three layer downloads at a time by default")

    config = os.path.join(tempfile.mkdtemp(prefix="crisp-config-"), "crispd.json")
    with open(config, "w") as f:
        json.dump({"max_concurrent_downloads": 5}, f)
    start = len(reg.requests())
    with Crispd(registries=[reg], extra_args=["--config", config]) as d, d.client() as c:
        resp = c.call("PullImage", image=c.msg("ImageSpec", image=ref), rpc_timeout=120)
        tap.is_(resp.image_ref, six["config_digest"], "max_concurrent_downloads 5: the pull completes")
    tap.is_(in_flight_since(reg, start), 5, "max_concurrent_downloads 5: five at a time")

    with open(config, "w") as f:
        json.dump({"max_concurrent_downloads": 0}, f)
    try:
        Crispd(registries=[reg], extra_args=["--config", config], start_timeout=5).stop()
        tap.ok(False, "max_concurrent_downloads 0 is rejected")
    except RuntimeError as error:
        tap.ok("max_concurrent_downloads must be a number from 1 to 256" in str(error),
               "max_concurrent_downloads 0 is rejected")
    os.unlink(config)
    os.rmdir(os.path.dirname(config))


def check_same_reference(reg):
    img = six_layer_image(reg, "same", "same")
    ref = f"{reg.host}/same:latest"
    with Crispd(registries=[reg]) as d:
        results = concurrent_pulls(d, [("a", ref, 120), ("b", ref, 120)])
        tap.is_(results["a"], (img["config_digest"], None), "same reference: the first caller")
        tap.is_(results["b"], (img["config_digest"], None), "same reference: the second caller")
        tap.is_([reg.blob_gets(layer) for layer in img["layer_digests"]], [1] * 6,
                "same reference: each layer is downloaded once")
        tap.is_(reg.blob_gets(img["config_digest"]), 1, "same reference: the config once")


def check_one_cancels(reg):
    img = six_layer_image(reg, "cancel", "cancel")
    ref = f"{reg.host}/cancel:latest"
    with Crispd(registries=[reg]) as d:
        # Six layers, three at a time, BLOB_DELAY_S each: the pull takes over 1 s.
        results = concurrent_pulls(d, [("gives-up", ref, 0.8), ("waits", ref, 120)])
        tap.is_(results["gives-up"][1][0], "DEADLINE_EXCEEDED",
                "one caller's deadline passes")
        tap.is_(results["waits"], (img["config_digest"], None),
                "the other caller still gets the image")
        tap.is_([reg.blob_gets(layer) for layer in img["layer_digests"]], [1] * 6,
                "the pull was not restarted: each layer downloaded once")
        with d.client() as c:
            st = c.call("ImageStatus", image=c.msg("ImageSpec", image=ref))
            tap.is_(st.image.id, img["config_digest"], "the image is in the store")

        # The only caller giving up stops the pull.
        other = six_layer_image(reg, "alone", "alone")
        alone = f"{reg.host}/alone:latest"
        results = concurrent_pulls(d, [("only", alone, 0.8)])
        tap.is_(results["only"][1][0], "DEADLINE_EXCEEDED", "the only caller gives up")
        with d.client() as c:
            st = c.call("ImageStatus", image=c.msg("ImageSpec", image=alone))
            tap.ok(not st.HasField("image"), "and the abandoned image is not in the store")
            resp = c.call("PullImage", image=c.msg("ImageSpec", image=alone), rpc_timeout=120)
            tap.is_(resp.image_ref, other["config_digest"], "a new pull of it completes")


def check_shared_layer(reg):
    base = images.build_layer([images.regular("base", b"shared base layer\n" * 1000)])
    one = images.push_image(reg, "one", "latest",
                            [base, [images.regular("one", b"one\n")]],
                            config_overrides={"Labels": {"v": "one"}})
    two = images.push_image(reg, "two", "latest",
                            [base, [images.regular("two", b"two\n")]],
                            config_overrides={"Labels": {"v": "two"}})
    with Crispd(registries=[reg]) as d:
        results = concurrent_pulls(d, [("one", f"{reg.host}/one:latest", 120),
                                       ("two", f"{reg.host}/two:latest", 120)])
        tap.is_(results["one"], (one["config_digest"], None), "shared layer: first image")
        tap.is_(results["two"], (two["config_digest"], None), "shared layer: second image")
        tap.is_(reg.blob_gets(base.digest), 1, "shared layer: its blob is downloaded once")
        tap.is_(reg.blob_gets(one["layer_digests"][1]), 1, "shared layer: own layer of the first")
        tap.is_(reg.blob_gets(two["layer_digests"][1]), 1, "shared layer: own layer of the second")

        # The same manifest under two tags: the layers come once, both tags are set.
        same = images.push_image(reg, "tags", "a", [[images.regular("t", b"tags\n")]],
                                 config_overrides={"Labels": {"v": "tags"}})
        reg.push_manifest("tags", "b", same["manifest"], same["media_type"])
        results = concurrent_pulls(d, [("a", f"{reg.host}/tags:a", 120),
                                       ("b", f"{reg.host}/tags:b", 120)])
        tap.is_((results["a"], results["b"]), ((same["config_digest"], None),) * 2,
                "two tags of one manifest: both pulls complete")
        tap.is_(reg.blob_gets(same["layer_digests"][0]), 1,
                "two tags of one manifest: the layer is downloaded once")
        with d.client() as c:
            st = c.call("ImageStatus", image=c.msg("ImageSpec", image=f"{reg.host}/tags:a"))
            tap.is_(sorted(st.image.repo_tags), [f"{reg.host}/tags:a", f"{reg.host}/tags:b"],
                    "two tags of one manifest: the image has both tags")


def check_repeated_layer(reg):
    """A manifest that lists one layer blob twice: one download, both layers unpacked."""
    entries = [images.regular("twice", b"the same layer, listed twice\n")]
    img = images.push_image(reg, "twice", "latest", [entries, entries],
                            config_overrides={"Labels": {"v": "twice"}})
    digest = img["layer_digests"][0]
    tap.is_(img["layer_digests"], [digest, digest], "repeated layer: one blob, listed twice")
    with Crispd(registries=[reg]) as d, d.client() as c:
        resp = c.call("PullImage", image=c.msg("ImageSpec", image=f"{reg.host}/twice:latest"),
                      rpc_timeout=120)
        tap.is_(resp.image_ref, img["config_digest"], "repeated layer: pulled")
        tap.is_(reg.blob_gets(digest), 1, "repeated layer: the blob is downloaded once")
        snapshots = os.listdir(os.path.join(d.root, "images", "snapshots"))
        tap.is_(len([n for n in snapshots if not n.endswith(".tmp")]), 2,
                "repeated layer: a snapshot for each position")


def body():
    with StandIn(blob_delay=BLOB_DELAY_S) as reg:
        check_parallel(reg)
        check_same_reference(reg)
        check_one_cancels(reg)
        check_shared_layer(reg)
        check_repeated_layer(reg)


tap.run(body)
