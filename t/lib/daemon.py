"""Run crispd on a private socket and state directories for one test.

Crispd starts the daemon with everything under a new temporary directory:
the CRI socket (crisp.sock), --root (root/), --state-dir (state/) and the
daemon's log (crispd.log). leftovers() lists mounts still present under
such a directory, which a test checks after the daemon is stopped.
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import tap

START_TIMEOUT = 10.0
STOP_TIMEOUT = 30.0
# sun_path in struct sockaddr_un is 108 bytes, including the final NUL.
MAX_SOCKET_PATH = 107


def repo_root():
    """Return the repository that contains this t/lib/ directory."""
    return os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def daemon_binary():
    """Return the crispd to test: $CRISPD, else $CRISP_BUILDDIR/crispd, else <repo>/build/crispd."""
    if os.environ.get("CRISPD"):
        return os.environ["CRISPD"]
    if os.environ.get("CRISP_BUILDDIR"):
        return os.path.join(os.environ["CRISP_BUILDDIR"], "crispd")
    return os.path.join(repo_root(), "build", "crispd")


def _unescape_mountinfo(field):
    """Decode the octal escapes (\\040 for a space) that /proc/*/mountinfo uses in paths."""
    out = bytearray()
    raw = field.encode()
    i = 0
    while i < len(raw):
        if raw[i] == ord("\\") and i + 3 < len(raw) and raw[i + 1:i + 4].isdigit():
            out.append(int(raw[i + 1:i + 4], 8))
            i += 4
        else:
            out.append(raw[i])
            i += 1
    return out.decode(errors="surrogateescape")


def reactor_pid(keeper):
    """Return the reactor process: the keeper's child that runs crispd, or None."""
    with open(f"/proc/{keeper}/task/{keeper}/children") as f:
        children = [int(p) for p in f.read().split()]
    for pid in children:
        try:
            with open(f"/proc/{pid}/comm") as f:
                if f.read().strip() == "crispd":
                    return pid
        except FileNotFoundError:
            continue
    return None


def wait_for(predicate, limit=200):
    """Poll predicate every 0.05 s, at most limit times, and return its last value.

    An exception from predicate counts as a false value: the daemon may not
    answer yet.
    """
    value = None
    for _ in range(limit):
        try:
            value = predicate()
        except Exception:  # noqa: BLE001 - see the docstring
            value = None
        if value:
            return value
        time.sleep(0.05)
    return value


def write_config(directory, name, config):
    """Write config, a dict, to directory/name as JSON for crispd --config; return the path."""
    path = os.path.join(directory, name)
    with open(path, "w") as f:
        json.dump(config, f)
    return path


def leftovers(tmpdir):
    """Return the mount points in /proc/self/mountinfo at or under tmpdir, in mount order."""
    base = os.path.realpath(tmpdir)
    prefix = os.path.join(base, "")
    found = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            # Field 5 is the mount point (proc(5), /proc/pid/mountinfo).
            mount_point = _unescape_mountinfo(line.split(" ")[4])
            if mount_point == base or mount_point.startswith(prefix):
                found.append(mount_point)
    return found


class Crispd:
    """A crispd process serving CRI on DIR/crisp.sock, DIR being a new temporary directory.

    registries: Registry objects or ``HOST:PORT`` strings, each passed as
    --insecure-registry. extra_args are appended to the command line. The
    constructor returns once the socket accepts connections.

    As a context manager it stops the daemon on exit and prints the daemon's
    log as TAP diagnostics when the block raised, a test has failed or the
    daemon exited with a status other than 0. The temporary directory is
    then removed unless mounts remain under it or $CRISP_KEEP_TMPDIR is set.
    """

    def __init__(self, registries=(), extra_args=(), binary=None, start_timeout=START_TIMEOUT):
        self.binary = binary or daemon_binary()
        if not os.access(self.binary, os.X_OK):
            raise FileNotFoundError(f"crispd binary not found or not executable: {self.binary} "
                                    f"(build it, or set CRISPD or CRISP_BUILDDIR)")
        self.tmpdir = tempfile.mkdtemp(prefix="crisp-t-")
        self.socket = os.path.join(self.tmpdir, "crisp.sock")
        self.root = os.path.join(self.tmpdir, "root")
        self.state_dir = os.path.join(self.tmpdir, "state")
        self.log_path = os.path.join(self.tmpdir, "crispd.log")
        if len(os.fsencode(self.socket)) > MAX_SOCKET_PATH:
            raise ValueError(f"socket path {self.socket} is longer than {MAX_SOCKET_PATH} bytes; "
                             f"set TMPDIR to a shorter directory")

        self.args = [self.binary,
                     "--socket", self.socket,
                     "--root", self.root,
                     "--state-dir", self.state_dir,
                     "--log-level", "debug"]
        for registry in registries:
            self.args += ["--insecure-registry", getattr(registry, "host", registry)]
        self.args += list(extra_args)

        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(self.args, stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=log)
        try:
            self._wait_ready(start_timeout)
        except BaseException:
            self.stop()
            if not os.environ.get("CRISP_KEEP_TMPDIR"):
                self.remove_tmpdir()
            raise

    @property
    def pid(self):
        """Process ID of the daemon."""
        return self.proc.pid

    def _wait_ready(self, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"crispd exited with status {self.proc.returncode} before "
                                   f"accepting connections on {self.socket}; its log:\n"
                                   f"{self.log()}")
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC) as probe:
                try:
                    probe.connect(self.socket)
                    return
                except (FileNotFoundError, ConnectionRefusedError):
                    pass
            time.sleep(0.02)
        raise RuntimeError(f"crispd (pid {self.pid}) did not accept connections on {self.socket} "
                           f"within {timeout} s; its log:\n{self.log()}")

    def log(self):
        """Return everything the daemon has written to stdout and stderr so far."""
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def client(self, api="v1"):
        """Return a cri.Client connected to this daemon's socket."""
        import cri
        return cri.Client(self.socket, api=api)

    def stop(self, timeout=STOP_TIMEOUT):
        """Send SIGTERM to the daemon, wait for it and return its exit status.

        The status is Popen's: negative for a signal. If the daemon is still
        running after timeout seconds, it gets SIGKILL and RuntimeError is
        raised. Calling stop() again returns the same status.
        """
        if self.proc.returncode is not None:
            return self.proc.returncode
        os.kill(self.proc.pid, signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
            raise RuntimeError(f"crispd (pid {self.pid}) did not exit within {timeout} s of "
                               f"SIGTERM and was killed")

    def remove_tmpdir(self):
        """Remove the temporary directory unless mounts remain under it, and return True if removed.

        With mounts left, a recursive delete would reach into them (a bind
        mount of a host directory, for one), so the directory stays.
        """
        if leftovers(self.tmpdir):
            return False
        shutil.rmtree(self.tmpdir, ignore_errors=True)
        return True

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        status = None
        try:
            status = self.stop()
        finally:
            if exc_type is not None or tap.failed() or status != 0:
                tap.diag(f"crispd (pid {self.pid}) exit status {status}; {self.args}")
                tap.diag(f"crispd log ({self.log_path}):\n{self.log()}")
            mounts = leftovers(self.tmpdir)
            if mounts:
                tap.diag(f"mounts left under {self.tmpdir}, so it is kept: {mounts}")
            elif not os.environ.get("CRISP_KEEP_TMPDIR"):
                self.remove_tmpdir()
