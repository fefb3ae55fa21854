#!/usr/bin/python3
"""Benchmark crispd against containerd's CRI plugin on this machine.

Both runtimes serve CRI runtime.v1 on their own socket, under their own
temporary directories, and are driven by the same clients (t/lib/cri.py,
and bench/cri-bench.c for the latency and throughput rows) with the same
images from a private docker-registry on 127.0.0.1. Every
pod uses the host network because neither runtime has CNI configured.
Run as root through bench/run. README.md in this directory explains each
number.
"""

import argparse
import concurrent.futures
import datetime
import json
import os
import platform
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(REPO, "t", "lib"))

import cri  # noqa: E402
import images  # noqa: E402
from registry import Registry  # noqa: E402

NAMESPACE_MODE_NODE = 2
CONTAINER_RUNNING = 1
START_TIMEOUT = 30.0
STOP_TIMEOUT = 20.0
# The pause image's entry point. Its process name (comm) identifies the
# sandbox processes among a containerd shim's children.
PAUSE_NAME = "pause"
MIB = 1024 * 1024


# --- /proc ---------------------------------------------------------------

def read_status(pid):
    """Return /proc/PID/status as a dict of field name to value string, or None if pid is gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            return dict(line.rstrip("\n").split(":\t", 1) for line in f if ":\t" in line)
    except (FileNotFoundError, ProcessLookupError):
        return None


def rss_kib(pid):
    """Return the resident set size of pid in KiB (VmRSS), 0 if the process is gone."""
    status = read_status(pid)
    if not status or "VmRSS" not in status:
        return 0
    return int(status["VmRSS"].split()[0])


def pss_kib(pid):
    """Return the proportional set size of pid in KiB from smaps_rollup, 0 if it is gone."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError):
        pass
    return 0


def processes():
    """Return a list of (pid, ppid, comm, argv) for every process, skipping those that exit."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        pid = int(entry)
        try:
            with open(f"/proc/{pid}/stat") as f:
                stat = f.read()
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                argv = [a.decode(errors="replace") for a in f.read().split(b"\0") if a]
        except (FileNotFoundError, ProcessLookupError):
            continue
        # comm is in parentheses and may itself contain spaces or ')'.
        comm = stat[stat.index("(") + 1:stat.rindex(")")]
        ppid = int(stat[stat.rindex(")") + 2:].split()[1])
        found.append((pid, ppid, comm, argv))
    return found


def comm_of(pid):
    """Return the process name of pid, or "" when it has exited."""
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except OSError:
        return ""


def memory_of(pids):
    """Return (RSS KiB, PSS KiB) summed over pids."""
    return sum(rss_kib(p) for p in pids), sum(pss_kib(p) for p in pids)


def mounts_under(directory):
    """Return the mount points at or under directory, most recently mounted first."""
    base = os.path.realpath(directory)
    found = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            point = line.split(" ")[4].replace("\\040", " ")
            if point == base or point.startswith(base + "/"):
                found.append(point)
    return list(reversed(found))


def wait_socket(path, proc, timeout, what):
    """Wait until the Unix socket at path accepts a connection; raise if proc exits first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with status {proc.returncode} before listening "
                               f"on {path}")
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC) as probe:
            try:
                probe.connect(path)
                return
            except (FileNotFoundError, ConnectionRefusedError):
                pass
        time.sleep(0.02)
    raise RuntimeError(f"{what} (pid {proc.pid}) did not listen on {path} within {timeout} s")


def terminate(pid, timeout=STOP_TIMEOUT):
    """Send SIGTERM to pid and wait until it exits, sending SIGKILL after timeout seconds.

    A zombie counts as exited: its parent, not this function, reaps it.
    """
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if read_status(pid) is None or read_status(pid).get("State", "").startswith("Z"):
            break
        time.sleep(0.05)
    else:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


# --- runtimes ------------------------------------------------------------

class Runtime:
    """A CRI daemon started by the bench on private paths under tmpdir."""

    name = None

    def __init__(self, tmpdir):
        self.tmpdir = tmpdir
        self.socket = os.path.join(tmpdir, "cri.sock")
        self.log_path = os.path.join(tmpdir, "daemon.log")
        self.proc = None

    @property
    def pid(self):
        """Process ID of the daemon."""
        return self.proc.pid

    def client(self):
        """Return a new cri.Client on this runtime's socket (runtime.v1)."""
        return cri.Client(self.socket, api="v1")

    def start(self):
        """Start the daemon and wait until a Version call succeeds."""
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(self.args, stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=log)
        wait_socket(self.socket, self.proc, START_TIMEOUT, self.name)
        # containerd opens its socket before the CRI plugin is ready, so wait
        # for a Version response: the idle figures then include the plugin.
        deadline = time.monotonic() + START_TIMEOUT
        with self.client() as c:
            while True:
                try:
                    c.call("Version", rpc_timeout=2)
                    return
                except cri.grpc.RpcError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.1)

    def helper_pids(self):
        """Return the PIDs of the processes the runtime adds beside the daemon."""
        raise NotImplementedError

    def overhead_pids(self):
        """Return the daemon's PID and the helpers' (shims, pause processes)."""
        return [self.pid] + self.helper_pids()

    def daemon_pids(self):
        """Return the PIDs of the daemon's own processes, whose new children a pull may start."""
        return [self.pid]

    def remove_all_pods(self):
        """Stop and remove every pod the runtime lists."""
        with self.client() as c:
            for pod in c.call("ListPodSandbox").items:
                c.call("StopPodSandbox", pod_sandbox_id=pod.id)
                c.call("RemovePodSandbox", pod_sandbox_id=pod.id)

    def stop(self):
        """Remove all pods, stop the daemon and its helpers by PID, unmount and delete tmpdir."""
        if self.proc is not None and self.proc.poll() is None:
            try:
                self.remove_all_pods()
            except Exception as error:  # noqa: BLE001 -- keep cleaning up
                print(f"bench: removing {self.name}'s pods failed: {error}", file=sys.stderr)
            helpers = self.helper_pids()
            terminate(self.pid)
            self.proc.wait()
            for pid in helpers:
                terminate(pid)
        for point in mounts_under(self.tmpdir):
            subprocess.run(["umount", "-l", point], check=False)
        if mounts_under(self.tmpdir):
            print(f"bench: mounts remain under {self.tmpdir}; it is kept", file=sys.stderr)
        else:
            shutil.rmtree(self.tmpdir, ignore_errors=True)


class Crisp(Runtime):
    name = "crisp"

    def __init__(self, tmpdir, builddir, registry):
        super().__init__(tmpdir)
        self.binary = os.path.join(builddir, "crispd")
        self.args = [self.binary, "--socket", self.socket,
                     "--root", os.path.join(tmpdir, "root"),
                     "--state-dir", os.path.join(tmpdir, "state"),
                     "--pause-binary", os.path.join(builddir, "crisp-pause"),
                     "--log-level", "info",
                     "--insecure-registry", registry.host]

    def reactor_pids(self):
        """Return the reactor processes: the crispd children of the keeper."""
        return [pid for pid, ppid, comm, _ in processes() if ppid == self.pid and comm == "crispd"]

    def daemon_pids(self):
        return [self.pid] + self.reactor_pids()

    def helper_pids(self):
        # crispd's pid runs crisp-keeper (self.pid, counted by
        # overhead_pids); the reactor is its crispd child and runs the pause
        # processes (the keeper adopts them after a crash).
        table = processes()
        reactors = self.reactor_pids()
        parents = {self.pid, *reactors}
        return reactors + [pid for pid, ppid, comm, _ in table
                           if ppid in parents and comm == "crisp-pause"]


CONTAINERD_CONFIG = """\
version = 2
root = "{root}"
state = "{state}"
disabled_plugins = []

[grpc]
  address = "{socket}"

[ttrpc]
  address = "{socket}.ttrpc"

[debug]
  level = "info"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{pause_image}"
  restrict_oom_score_adj = {restrict_oom}
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "{cni}/bin"
    conf_dir = "{cni}/conf"
  [plugins."io.containerd.grpc.v1.cri".registry]
    config_path = "{certs}"
"""

HOSTS_TOML = """\
server = "http://{host}"

[host."http://{host}"]
  capabilities = ["pull", "resolve"]
  skip_verify = true
"""


# runc's state and the shims' sockets: containerd 1.6 puts them in
# /run/containerd whatever its own state directory is.
RUNC_STATE = "/run/containerd"


def containerd_cgroups():
    """Return the k8s.io cgroup of each cgroup v1 hierarchy, and of the v2 one."""
    found = []
    for hierarchy in sorted(os.listdir("/sys/fs/cgroup")):
        path = os.path.join("/sys/fs/cgroup", hierarchy)
        if os.path.isdir(path) and not os.path.islink(path):
            found.append(os.path.join(path, "k8s.io"))
    found.append("/sys/fs/cgroup/k8s.io")
    return found


def restrict_oom_score_adj():
    """Return "true" when this process cannot lower its oom_score_adj, else "false".

    Lowering the score needs CAP_SYS_RESOURCE, which some containers and
    VMs withhold even from root. runc then fails every sandbox because
    containerd requests -998 for pause. containerd's restrict_oom_score_adj
    raises such requests to containerd's own score instead.
    """
    with open("/proc/self/status") as f:
        caps = next(int(line.split()[1], 16) for line in f if line.startswith("CapEff:"))
    cap_sys_resource = 24
    return "false" if caps & (1 << cap_sys_resource) else "true"


class Containerd(Runtime):
    name = "containerd"

    def __init__(self, tmpdir, registry, pause_image):
        super().__init__(tmpdir)
        certs = os.path.join(tmpdir, "certs.d")
        os.makedirs(os.path.join(certs, registry.host))
        with open(os.path.join(certs, registry.host, "hosts.toml"), "w") as f:
            f.write(HOSTS_TOML.format(host=registry.host))
        # Empty CNI directories: host-network pods never call CNI, and the
        # host's own /etc/cni stays out of the comparison.
        for sub in ("bin", "conf"):
            os.makedirs(os.path.join(tmpdir, "cni", sub))
        self.config = os.path.join(tmpdir, "config.toml")
        with open(self.config, "w") as f:
            f.write(CONTAINERD_CONFIG.format(root=os.path.join(tmpdir, "root"),
                                             state=os.path.join(tmpdir, "state"),
                                             socket=self.socket, pause_image=pause_image,
                                             cni=os.path.join(tmpdir, "cni"), certs=certs,
                                             restrict_oom=restrict_oom_score_adj()))
        self.args = ["containerd", "--config", self.config]
        # runc (with the cgroupfs driver) and the shims create these outside
        # tmpdir; stop() removes those that did not exist before.
        self.host_dirs = [d for d in [RUNC_STATE] + containerd_cgroups() if not os.path.exists(d)]

    def stop(self):
        super().stop()
        for directory in self.host_dirs:
            if directory.startswith("/sys/fs/cgroup/"):
                try:
                    os.rmdir(directory)
                except FileNotFoundError:
                    pass
                except OSError as error:
                    print(f"bench: cgroup {directory} not removed: {error}", file=sys.stderr)
            else:
                shutil.rmtree(directory, ignore_errors=True)

    def shim_pids(self, table=None):
        """Return the PIDs of containerd-shim-runc-v2 processes started by this containerd."""
        table = table or processes()
        shims = []
        for pid, _, _, argv in table:
            if (argv and os.path.basename(argv[0]).startswith("containerd-shim")
                    and "-address" in argv
                    and argv[argv.index("-address") + 1:argv.index("-address") + 2]
                    == [self.socket]):
                shims.append(pid)
        return shims

    def helper_pids(self):
        table = processes()
        shims = self.shim_pids(table)
        pauses = [pid for pid, ppid, comm, _ in table if ppid in shims and comm == PAUSE_NAME]
        return shims + pauses


# --- images --------------------------------------------------------------

def build_static_pause(builddir, outdir):
    """Compile src/pause/pause.c statically and return the binary's path."""
    output = os.path.join(outdir, "pause")
    subprocess.run(["gcc", "-static", "-O2", "-I", builddir,
                    os.path.join(REPO, "src", "pause", "pause.c"), "-o", output],
                   check=True)
    return output


def push_pause_image(registry, binary):
    """Push an image holding only the static pause program as /pause."""
    with open(binary, "rb") as f:
        data = f.read()
    layer = images.build_layer([images.regular(PAUSE_NAME, data, mode=0o755)])
    return images.push_image(registry, "pause", "latest", [layer],
                             config_overrides={"Entrypoint": ["/" + PAUSE_NAME], "Cmd": None})


def random_layer(seed_name, size):
    """Return a gzip Layer holding one file of size random (incompressible) bytes."""
    return images.build_layer([images.directory("data"),
                               images.regular(f"data/{seed_name}", os.urandom(size))])


def push_pull_images(registry, reps, big_mib, layers):
    """Push reps copies (distinct random content) of the big and the many-layer images.

    Returns {"big": [references], "layers": [references]}.
    """
    pushed = {"big": [], "layers": []}
    for rep in range(reps):
        # Three layers of big_mib/3 each, so the pull fetches layers in turn.
        part = big_mib * MIB // 3
        big = [random_layer(f"blob{i}", part) for i in range(3)]
        pushed["big"].append(images.busybox_image(registry, f"big{rep}", extra_layers=big)
                             ["reference"])
        small = [random_layer(f"file{i}", MIB) for i in range(layers - 1)]
        pushed["layers"].append(images.busybox_image(registry, f"layers{rep}",
                                                     extra_layers=small)["reference"])
    return pushed


# --- CRI steps -----------------------------------------------------------

def pod_config(c, name, logdir):
    return c.msg("PodSandboxConfig",
                 metadata=c.msg("PodSandboxMetadata", name=name, namespace="bench",
                                uid=f"uid-{name}"),
                 log_directory=logdir,
                 linux=c.msg("LinuxPodSandboxConfig",
                             security_context=c.msg(
                                 "LinuxSandboxSecurityContext",
                                 namespace_options=c.msg("NamespaceOption",
                                                         network=NAMESPACE_MODE_NODE))))


def start_pod(c, name, image, logdir):
    """Run a pod with one `sleep` container; return (pod id, container id, seconds taken)."""
    os.makedirs(os.path.join(logdir, name), exist_ok=True)
    begin = time.perf_counter()
    config = pod_config(c, name, os.path.join(logdir, name))
    pod = c.call("RunPodSandbox", config=config).pod_sandbox_id
    ctr_config = c.msg("ContainerConfig", metadata=c.msg("ContainerMetadata", name="sleep"),
                       image=c.msg("ImageSpec", image=image), command=["sleep", "3600"],
                       log_path="sleep.log")
    ctr = c.call("CreateContainer", pod_sandbox_id=pod, config=ctr_config,
                 sandbox_config=config).container_id
    c.call("StartContainer", container_id=ctr)
    return pod, ctr, time.perf_counter() - begin


def stop_pod(c, pod, ctr):
    """Stop and remove the container and its pod; return the seconds taken."""
    begin = time.perf_counter()
    c.call("StopContainer", container_id=ctr, timeout=10)
    c.call("RemoveContainer", container_id=ctr)
    c.call("StopPodSandbox", pod_sandbox_id=pod)
    c.call("RemovePodSandbox", pod_sandbox_id=pod)
    return time.perf_counter() - begin


def timed_calls(c, count, method, **fields):
    """Call method count times; return the latencies in seconds."""
    samples = []
    for _ in range(count):
        begin = time.perf_counter()
        c.call(method, **fields)
        samples.append(time.perf_counter() - begin)
    return samples


def cri_bench(opts, socket_path, method, *args, stdin=subprocess.DEVNULL):
    """Start bench/cri-bench (the C client) for method on socket_path with more arguments."""
    return subprocess.Popen([opts.cri_bench, f"--socket={socket_path}", f"--method={method}",
                             *args], stdin=stdin, stdout=subprocess.PIPE, text=True)


def finish_cri_bench(proc):
    """Close its stdin, wait for a cri-bench process; return its output or raise when it failed."""
    if proc.stdin:
        proc.stdin.close()
    output = proc.stdout.read()
    proc.stdout.close()
    proc.wait()
    if proc.returncode != 0:
        raise RuntimeError(f"cri-bench {' '.join(proc.args[1:])} exited with {proc.returncode}")
    return output.split()


def c_timed_calls(opts, socket_path, count, method, *args):
    """Make count calls of method with the C client; return the latencies in seconds."""
    proc = cri_bench(opts, socket_path, method, f"--calls={count}", *args)
    return [float(v) for v in finish_cri_bench(proc)]


def summary(samples, scale=1000.0):
    """Return {n, median, p90, max} of samples multiplied by scale (seconds to ms by default)."""
    ordered = sorted(s * scale for s in samples)
    if not ordered:
        return {"n": 0, "median": None, "p90": None, "max": None}
    p90 = ordered[min(len(ordered) - 1, int(round(0.9 * (len(ordered) - 1))))]
    return {"n": len(ordered), "median": statistics.median(ordered), "p90": p90,
            "max": ordered[-1]}


def version_throughput(opts, socket_path):
    """Return Version calls per second from opts.clients C client processes.

    Each has its own connection and calls in a loop for opts.duration
    seconds from a common start.
    """
    proc = cri_bench(opts, socket_path, "Version", f"--clients={opts.clients}",
                     f"--duration={opts.duration}")
    return int(finish_cri_bench(proc)[0]) / opts.duration


class Sampler(threading.Thread):
    """Sample the memory of a daemon's processes and their new children every 5 ms until stopped.

    Children present when the sampler starts (pause processes, containers)
    are left out, so an unpack helper the daemon clones is counted.
    """

    def __init__(self, daemon_pids):
        super().__init__(daemon=True)
        self.daemon_pids = list(daemon_pids)
        self.before = {pid for pid, ppid, _, _ in processes() if ppid in self.daemon_pids}
        self.peak_kib = 0
        self.done = threading.Event()

    def run(self):
        while not self.done.is_set():
            pids = self.daemon_pids + [pid for pid, ppid, _, _ in processes()
                                       if ppid in self.daemon_pids and pid not in self.before]
            self.peak_kib = max(self.peak_kib, sum(rss_kib(p) for p in pids))
            time.sleep(0.005)


# Seconds of ListContainers polling without a pull, for the baseline of the pull rows.
IDLE_POLL_S = 3.0


class ListPoller:
    """Call ListContainers every 10 ms with the C client on its own connection until stopped."""

    def __init__(self, opts, runtime):
        self.proc = cri_bench(opts, runtime.socket, "ListContainers", "--calls=0",
                              "--interval-ms=10", stdin=subprocess.PIPE)
        self.samples = []

    def stop(self):
        """Stop calling (end of file on the client's stdin) and keep its latencies."""
        self.samples = [float(v) for v in finish_cri_bench(self.proc)]


def measure_pull(opts, runtime, reference):
    """Pull reference once; return wall seconds, peak daemon RSS and ListContainers latencies."""
    sampler = Sampler(runtime.daemon_pids())
    poller = ListPoller(opts, runtime)
    sampler.start()
    with runtime.client() as c:
        begin = time.perf_counter()
        c.call("PullImage", image=c.msg("ImageSpec", image=reference), rpc_timeout=600)
        seconds = time.perf_counter() - begin
    sampler.done.set()
    poller.stop()
    sampler.join()
    return seconds, sampler.peak_kib, poller.samples


# --- the benchmark -------------------------------------------------------

def bench_runtime(runtime, opts, refs, logdir):
    """Run every benchmark on runtime and return its results as a dict."""
    result = {"daemon_pid": runtime.pid}
    c = runtime.client()
    log = lambda text: print(f"[{runtime.name}] {text}", file=sys.stderr, flush=True)  # noqa: E731

    time.sleep(opts.settle)
    idle = runtime.overhead_pids()
    result["idle_rss_kib"], result["idle_pss_kib"] = memory_of(idle)
    result["idle_processes"] = [{"pid": p, "comm": comm_of(p), "rss_kib": rss_kib(p),
                                 "pss_kib": pss_kib(p)} for p in idle]
    log(f"idle RSS {result['idle_rss_kib']} KiB")

    c.call("PullImage", image=c.msg("ImageSpec", image=refs["busybox"]))
    if runtime.name == "containerd":
        # The sandbox image is pulled here so that RunPodSandbox never
        # pulls it during a timed run.
        c.call("PullImage", image=c.msg("ImageSpec", image=refs["pause"]))

    pod, ctr, _ = start_pod(c, "first", refs["busybox"], logdir)
    time.sleep(opts.settle)
    first = runtime.overhead_pids()
    result["first_pod_pids"] = len(first)
    result["first_pod_rss_kib"], result["first_pod_pss_kib"] = memory_of(first)
    result["first_pod_daemon_rss_kib"] = sum(rss_kib(p) for p in runtime.daemon_pids())
    log(f"after first pod: {len(first)} processes, RSS {result['first_pod_rss_kib']} KiB")
    stop_pod(c, pod, ctr)

    starts, stops = [], []
    for i in range(opts.runs):
        pod, ctr, seconds = start_pod(c, f"seq{i}", refs["busybox"], logdir)
        starts.append(seconds)
        stops.append(stop_pod(c, pod, ctr))
    result["pod_start_ms"] = summary(starts)
    result["teardown_ms"] = summary(stops)
    log(f"pod start median {result['pod_start_ms']['median']:.1f} ms")

    concurrent_starts, batch_walls = [], []
    for round_ in range(opts.concurrent_rounds):
        clients = [runtime.client() for _ in range(opts.concurrency)]
        begin = time.perf_counter()
        with concurrent.futures.ThreadPoolExecutor(opts.concurrency) as pool:
            started = list(pool.map(
                lambda i: start_pod(clients[i], f"con{round_}-{i}", refs["busybox"], logdir),
                range(opts.concurrency)))
        batch_walls.append(time.perf_counter() - begin)
        concurrent_starts += [s for _, _, s in started]
        for pod, ctr, _ in started:
            stop_pod(c, pod, ctr)
        for client in clients:
            client.close()
    result["pod_start_concurrent_ms"] = summary(concurrent_starts)
    result["pod_start_concurrent_batch_ms"] = summary(batch_walls)
    log(f"concurrent pod start median {result['pod_start_concurrent_ms']['median']:.1f} ms")

    pods = [start_pod(c, f"dense{i}", refs["busybox"], logdir) for i in range(opts.pods)]
    time.sleep(opts.settle)
    dense = runtime.overhead_pids()
    result["density_pods"] = opts.pods
    result["density_pids"] = len(dense)
    result["density_rss_kib"], result["density_pss_kib"] = memory_of(dense)
    result["density_pss_per_pod_kib"] = result["density_pss_kib"] / opts.pods
    result["density_rss_per_pod_kib"] = result["density_rss_kib"] / opts.pods
    result["density_marginal_pss_per_pod_kib"] = (
        (result["density_pss_kib"] - result["idle_pss_kib"]) / opts.pods)
    log(f"{opts.pods} pods: {len(dense)} processes, PSS {result['density_pss_kib']} KiB")

    ctr_ids = [ctr for _, ctr, _ in pods]
    sock = runtime.socket
    result["list_containers_ms"] = summary(
        c_timed_calls(opts, sock, opts.calls, "ListContainers"))
    result["list_pods_ms"] = summary(c_timed_calls(opts, sock, opts.calls, "ListPodSandbox"))
    result["container_status_ms"] = summary(
        c_timed_calls(opts, sock, opts.calls, "ContainerStatus",
                      f"--container-id={ctr_ids[len(ctr_ids) // 2]}"))
    result["version_ms"] = summary(c_timed_calls(opts, sock, opts.calls, "Version"))
    # The Python client's figures, for comparison with records made before cri-bench.
    result["python_list_containers_ms"] = summary(timed_calls(c, opts.calls, "ListContainers"))
    result["python_version_ms"] = summary(timed_calls(c, opts.calls, "Version"))
    result["version_calls_per_s"] = version_throughput(opts, sock)
    log(f"Version throughput {result['version_calls_per_s']:.0f}/s")

    # The same polling as during the pulls, with no pull: the baseline the
    # pull rows compare to.  Back-to-back calls (list_containers_ms) run
    # with warm caches and a CPU that never idles, and return faster than
    # calls 10 ms apart on any runtime.
    poller = ListPoller(opts, runtime)
    time.sleep(IDLE_POLL_S)
    poller.stop()
    result["list_containers_polled_ms"] = summary(poller.samples)

    pulls = {}
    for kind in ("big", "layers"):
        walls, peaks, lists = [], [], []
        for reference in refs[kind]:
            seconds, peak, samples = measure_pull(opts, runtime, reference)
            walls.append(seconds)
            peaks.append(peak)
            lists += samples
        pulls[kind] = {"wall_s": summary(walls, scale=1.0), "peak_rss_kib": max(peaks),
                       "list_containers_during_ms": summary(lists)}
        log(f"pull {kind}: median {pulls[kind]['wall_s']['median']:.2f} s, "
            f"peak RSS {max(peaks)} KiB")
    result["pull"] = pulls

    for pod, ctr, _ in pods:
        stop_pod(c, pod, ctr)
    result["daemon_rss_end_kib"] = sum(rss_kib(p) for p in runtime.daemon_pids())
    c.close()
    return result


def versions(builddir):
    def output(args):
        try:
            return subprocess.run(args, capture_output=True, text=True, check=False,
                                  cwd=REPO).stdout.strip()
        except FileNotFoundError:
            return None
    return {
        "crisp_commit": output(["git", "rev-parse", "HEAD"]),
        "crisp_describe": output(["git", "describe", "--always", "--dirty"]),
        "containerd": output(["containerd", "--version"]),
        "runc": output(["runc", "--version"]).splitlines()[0],
        "docker_registry": output(["docker-registry", "--version"]),
        "python_grpc": cri.grpc.__version__,
    }


def machine():
    with open("/proc/meminfo") as f:
        mem_kib = int(f.readline().split()[1])
    with open("/proc/cpuinfo") as f:
        models = [line.split(":", 1)[1].strip() for line in f if line.startswith("model name")]
    return {"nproc": os.cpu_count(), "memory_mib": mem_kib // 1024,
            "kernel": platform.release(), "cpu": models[0] if models else None}


# Rows of the table: (label, key path, unit, target ratio crisp/containerd or None).
ROWS = [
    ("idle daemon RSS", ("idle_rss_kib",), "KiB", 0.1),
    ("idle daemon PSS", ("idle_pss_kib",), "KiB", None),
    ("after first pod, RSS (daemon+helpers)", ("first_pod_rss_kib",), "KiB", None),
    ("after first pod, PSS (daemon+helpers)", ("first_pod_pss_kib",), "KiB", None),
    ("density: PSS per pod, total/pods", ("density_pss_per_pod_kib",), "KiB", 0.05),
    ("density: PSS per pod, (total-idle)/pods", ("density_marginal_pss_per_pod_kib",), "KiB",
     0.05),
    ("pod start median", ("pod_start_ms", "median"), "ms", 1 / 3),
    ("pod start p90", ("pod_start_ms", "p90"), "ms", None),
    ("pod start, 10 concurrent, median", ("pod_start_concurrent_ms", "median"), "ms", None),
    ("pod start, 10 concurrent, p90", ("pod_start_concurrent_ms", "p90"), "ms", None),
    ("10 concurrent starts, batch wall", ("pod_start_concurrent_batch_ms", "median"), "ms",
     None),
    ("teardown median", ("teardown_ms", "median"), "ms", None),
    ("teardown p90", ("teardown_ms", "p90"), "ms", None),
    ("ListContainers median (50 pods)", ("list_containers_ms", "median"), "ms", 0.5),
    ("ListContainers p90", ("list_containers_ms", "p90"), "ms", None),
    ("ListPodSandbox median", ("list_pods_ms", "median"), "ms", 0.5),
    ("ListPodSandbox p90", ("list_pods_ms", "p90"), "ms", None),
    ("ContainerStatus median", ("container_status_ms", "median"), "ms", None),
    ("Version median", ("version_ms", "median"), "ms", None),
    ("ListContainers median, Python client", ("python_list_containers_ms", "median"), "ms",
     None),
    ("Version median, Python client", ("python_version_ms", "median"), "ms", None),
    ("Version, 8 clients", ("version_calls_per_s",), "calls/s", None),
    ("ListContainers every 10 ms, no pull, median", ("list_containers_polled_ms", "median"),
     "ms", None),
    ("ListContainers every 10 ms, no pull, p90", ("list_containers_polled_ms", "p90"), "ms",
     None),
    ("pull big image, median wall", ("pull", "big", "wall_s", "median"), "s", None),
    ("pull big image, peak daemon RSS", ("pull", "big", "peak_rss_kib"), "KiB", None),
    ("ListContainers during big pull, median", ("pull", "big", "list_containers_during_ms",
                                                "median"), "ms", None),
    ("ListContainers during big pull, p90", ("pull", "big", "list_containers_during_ms",
                                             "p90"), "ms", None),
    ("pull 10-layer image, median wall", ("pull", "layers", "wall_s", "median"), "s", None),
    ("pull 10-layer image, peak daemon RSS", ("pull", "layers", "peak_rss_kib"), "KiB", None),
    ("ListContainers during 10-layer pull, median", ("pull", "layers",
                                                     "list_containers_during_ms", "median"),
     "ms", None),
    ("ListContainers during 10-layer pull, p90", ("pull", "layers",
                                                  "list_containers_during_ms", "p90"),
     "ms", None),
    ("ExecSync", None, "", None),
]


def lookup(result, path):
    for key in path:
        if result is None:
            return None
        result = result.get(key)
    return result


def table(results):
    """Return the results as a Markdown table with ratios crisp/containerd."""
    lines = ["| benchmark | unit | crisp | containerd | crisp/containerd | target |",
             "|---|---|---:|---:|---:|---|"]
    for label, path, unit, target in ROWS:
        if path is None:
            lines.append(f"| {label} | | not measured | not measured | | "
                         f"crisp does not implement ExecSync yet |")
            continue
        a = lookup(results.get("crisp"), path)
        b = lookup(results.get("containerd"), path)
        fmt = (lambda v: "-" if v is None else (f"{v:.0f}" if unit in ("KiB", "calls/s")
                                                 else f"{v:.3g}" if unit == "s" else f"{v:.2f}"))
        ratio = a / b if a is not None and b else None
        ratio_text = "-" if ratio is None else f"{ratio:.3f}"
        target_text = ""
        if target is not None:
            met = ratio is not None and ratio <= target
            target_text = f"<= {target:.3g}: {'met' if met else 'NOT met'}"
        lines.append(f"| {label} | {unit} | {fmt(a)} | {fmt(b)} | {ratio_text} | {target_text} |")
    return "\n".join(lines)


# Each runtime against itself: ListContainers during a pull over the same polling without one.
PULL_LOAD_TARGET = 2.0


def pull_load_table(results):
    """Return, per runtime, the median ListContainers latency during each pull kind over idle."""
    lines = ["| runtime | during big pull / no pull | during 10-layer pull / no pull | target |",
             "|---|---:|---:|---|"]
    for name, result in results.items():
        idle = lookup(result, ("list_containers_polled_ms", "median"))
        cells = []
        for kind in ("big", "layers"):
            during = lookup(result, ("pull", kind, "list_containers_during_ms", "median"))
            cells.append(during / idle if during is not None and idle else None)
        text = ["-" if v is None else f"{v:.2f}" for v in cells]
        target = ""
        if name == "crisp":
            met = all(v is not None and v <= PULL_LOAD_TARGET for v in cells)
            target = f"<= {PULL_LOAD_TARGET:g}: {'met' if met else 'NOT met'}"
        lines.append(f"| {name} | {text[0]} | {text[1]} | {target} |")
    return "\n".join(lines)


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--builddir", default=os.path.join(REPO, "build"),
                        help="crisp build directory holding crispd and crisp-pause")
    parser.add_argument("--cri-bench", required=True,
                        help="the C client bench/cri-bench.c, which bench/run builds")
    parser.add_argument("--output", help="JSON record path (default bench/results/DATE.json)")
    parser.add_argument("--runtimes", default="crisp,containerd",
                        help="comma-separated runtimes to run (crisp, containerd)")
    parser.add_argument("--runs", type=int, default=30, help="sequential pod starts")
    parser.add_argument("--concurrency", type=int, default=10, help="pods started at once")
    parser.add_argument("--concurrent-rounds", type=int, default=3,
                        help="rounds of concurrent starts")
    parser.add_argument("--pods", type=int, default=50, help="pods for density and list calls")
    parser.add_argument("--calls", type=int, default=200, help="calls per latency measurement")
    parser.add_argument("--clients", type=int, default=8, help="processes calling Version")
    parser.add_argument("--duration", type=float, default=5.0,
                        help="seconds of the Version throughput run")
    parser.add_argument("--pull-reps", type=int, default=3,
                        help="pulls of each image kind (distinct content each)")
    parser.add_argument("--big-mib", type=int, default=150, help="random bytes in the big image")
    parser.add_argument("--layers", type=int, default=10, help="layers of the many-layer image")
    parser.add_argument("--settle", type=float, default=2.0,
                        help="seconds to wait before reading memory")
    return parser.parse_args()


def main():
    opts = parse_args()
    if os.geteuid() != 0:
        sys.exit("bench: run as root: both runtimes create namespaces and mounts")
    names = opts.runtimes.split(",")
    unknown = [n for n in names if n not in ("crisp", "containerd")]
    if unknown:
        sys.exit(f"bench: unknown runtime {unknown[0]!r}; expected crisp or containerd")

    started = datetime.datetime.now(datetime.timezone.utc)
    output = opts.output or os.path.join(HERE, "results",
                                         started.strftime("%Y-%m-%dT%H%M%SZ") + ".json")
    workdir = tempfile.mkdtemp(prefix="crisp-bench-")
    record = {"date": started.isoformat(timespec="seconds"), "machine": machine(),
              "versions": versions(opts.builddir), "command": sys.argv,
              "options": vars(opts), "results": {},
              "containerd_restrict_oom_score_adj": restrict_oom_score_adj()}
    running = []
    try:
        with Registry() as registry:
            print(f"bench: registry on {registry.host}, building images", file=sys.stderr)
            pause_binary = build_static_pause(opts.builddir, workdir)
            refs = {"busybox": images.busybox_image(registry)["reference"],
                    "pause": push_pause_image(registry, pause_binary)["reference"]}
            refs.update(push_pull_images(registry, opts.pull_reps, opts.big_mib, opts.layers))
            record["images"] = refs

            for name in names:
                tmpdir = tempfile.mkdtemp(prefix=f"{name}-", dir=workdir)
                logdir = os.path.join(tmpdir, "logs")
                os.makedirs(logdir)
                if name == "crisp":
                    runtime = Crisp(tmpdir, opts.builddir, registry)
                else:
                    runtime = Containerd(tmpdir, registry, refs["pause"])
                running.append(runtime)
                runtime.start()
                print(f"bench: {name} pid {runtime.pid} on {runtime.socket}", file=sys.stderr)
                try:
                    record["results"][name] = bench_runtime(runtime, opts, refs, logdir)
                finally:
                    running.remove(runtime)
                    runtime.stop()
    finally:
        for runtime in running:
            runtime.stop()
        if not any(mounts_under(workdir)):
            shutil.rmtree(workdir, ignore_errors=True)

    os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
    with open(output, "w") as f:
        json.dump(record, f, indent=2, sort_keys=True)
        f.write("\n")
    print(table(record["results"]))
    print()
    print(pull_load_table(record["results"]))
    print(f"\nbench: record written to {output}", file=sys.stderr)


if __name__ == "__main__":
    main()
