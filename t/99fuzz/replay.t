#!/usr/bin/python3
"""Replay every fuzz corpus (fuzz/corpus/<target>/) through its fuzz/replay-<target> driver."""

import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))

import tap  # noqa: E402
from daemon import repo_root  # noqa: E402


def body():
    src = os.environ.get("CRISP_SRCDIR", repo_root())
    build = os.environ.get("CRISP_BUILDDIR", os.path.join(src, "build"))
    corpora = os.path.join(src, "fuzz", "corpus")
    targets = sorted(os.listdir(corpora))
    tap.ok(len(targets) > 0, "there are fuzz corpora")
    for target in targets:
        driver = os.path.join(build, "fuzz", "replay-" + target)
        if not os.access(driver, os.X_OK):
            tap.ok(False, f"{target}: replay driver {driver} is built")
            continue
        inputs = os.listdir(os.path.join(corpora, target))
        out = subprocess.run([driver, os.path.join(corpora, target)], capture_output=True,
                             text=True, timeout=600)
        tap.is_(out.returncode, 0, f"{target}: {len(inputs)} inputs replay cleanly")
        if out.returncode != 0:
            tap.diag(out.stdout[-2000:] + out.stderr[-4000:])


tap.run(body)
