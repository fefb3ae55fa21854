"""Start and stop fakeserver.py processes (see its docstring) for a test."""

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time

SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fakeserver.py")


def free_port():
    """Return a loopback port nothing listens on (bound, then closed)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class FakeServer:
    """A fakeserver.py process on 127.0.0.1; args are its command-line options."""

    def __init__(self, *args):
        self.tmpdir = tempfile.mkdtemp(prefix="crisp-fake-")
        self.log_path = os.path.join(self.tmpdir, "requests.jsonl")
        port_file = os.path.join(self.tmpdir, "port")
        open(self.log_path, "w").close()
        self.proc = subprocess.Popen([sys.executable, SCRIPT, "--port-file", port_file,
                                      "--log", self.log_path, *args],
                                     stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while not os.path.exists(port_file):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"fakeserver {args} did not start")
            time.sleep(0.02)
        with open(port_file) as f:
            self.port = int(f.read())

    @property
    def host(self):
        return f"127.0.0.1:{self.port}"

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def requests(self):
        """Return the requests received so far, as dicts (method, path, headers, body)."""
        with open(self.log_path) as f:
            return [json.loads(line) for line in f]

    def stop(self):
        """Stop the process by its PID and wait for it."""
        if self.proc.returncode is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=10)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
