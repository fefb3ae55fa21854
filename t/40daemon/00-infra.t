#!/usr/bin/python3
"""Self-test of the test infrastructure in t/lib/, without crispd.

It runs a real docker-registry on loopback, pushes busybox images and
indexes, reads them back over HTTP, and checks the CRI client against the
project's proto and a small in-process gRPC server. The daemon runner is
checked with a stand-in program that only listens on the socket.
"""

import errno
import gzip
import hashlib
import io
import json
import os
import re
import socket
import subprocess
import sys
import tarfile
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))

import cri  # noqa: E402
import daemon  # noqa: E402
import images  # noqa: E402
import registry  # noqa: E402
import tap  # noqa: E402


def sha256_hex(data):
    return hashlib.sha256(data).hexdigest()


def read_tar(data):
    """Return {name: (TarInfo, content or None)} for an uncompressed tar archive."""
    members = {}
    with tarfile.open(fileobj=io.BytesIO(data)) as archive:
        for info in archive.getmembers():
            content = archive.extractfile(info).read() if info.isreg() else None
            members[info.name] = (info, content)
    return members


def other_platform():
    """Return a platform that differs from this machine's, for two-platform indexes."""
    if images.machine_platform()["architecture"] == "arm64":
        return {"os": "linux", "architecture": "amd64"}
    return {"os": "linux", "architecture": "arm64", "variant": "v8"}


def check_registry_basics(reg):
    tap.like(reg.host, r"^127\.0\.0\.1:\d+$", "registry host is loopback")
    status, _, _ = reg.request("GET", "/v2/")
    tap.is_(status, 200, "registry GET /v2/ returns 200")
    with open(f"/proc/{reg.pid}/cmdline", "rb") as f:
        cmdline = f.read().split(b"\0")
    tap.is_(cmdline[0], registry.REGISTRY_BINARY.encode(), "registry pid runs docker-registry")

    digest = reg.push_blob("infra/blob", b"crisp blob\n")
    tap.is_(digest, "sha256:" + sha256_hex(b"crisp blob\n"), "push_blob returns content digest")
    _, body = reg.get(f"/v2/infra/blob/blobs/{digest}")
    tap.is_(body, b"crisp blob\n", "pushed blob reads back")
    code, _, _ = reg.request("GET", "/v2/infra/blob/blobs/sha256:" + "0" * 64)
    tap.is_(code, 404, "missing blob returns 404")


def check_image(reg, repo, tag, pushed, fmt, compressed):
    """Read repo:tag back from the registry and compare it with what push_image returned."""
    label = f"{fmt} {'gzip' if compressed else 'tar'}"
    types = images.MEDIA_TYPES[fmt]

    headers, body = reg.get(f"/v2/{repo}/manifests/{tag}", accept=types["manifest"])
    tap.is_(headers["Content-Type"], types["manifest"], f"{label}: manifest content type")
    tap.is_(headers["Docker-Content-Digest"], pushed["manifest_digest"],
            f"{label}: manifest digest header")
    tap.is_("sha256:" + sha256_hex(body), pushed["manifest_digest"],
            f"{label}: manifest body digest")
    tap.is_(len(body), pushed["size"], f"{label}: manifest size")
    tap.is_(pushed["reference"], f"{reg.host}/{repo}:{tag}", f"{label}: reference")

    manifest = json.loads(body)
    tap.is_(manifest["schemaVersion"], 2, f"{label}: schemaVersion")
    tap.is_(manifest["mediaType"], types["manifest"], f"{label}: manifest mediaType")
    tap.is_(manifest["config"]["mediaType"], types["config"], f"{label}: config mediaType")
    tap.is_(manifest["config"]["digest"], pushed["config_digest"], f"{label}: config digest")
    tap.is_(len(manifest["layers"]), 1, f"{label}: one layer")
    layer = manifest["layers"][0]
    expected_layer_type = types["layer_gzip"] if compressed else types["layer_tar"]
    tap.is_(layer["mediaType"], expected_layer_type, f"{label}: layer mediaType")
    tap.is_(layer["digest"], pushed["layer_digests"][0], f"{label}: layer digest")

    _, config_bytes = reg.get(f"/v2/{repo}/blobs/{pushed['config_digest']}")
    tap.is_("sha256:" + sha256_hex(config_bytes), pushed["config_digest"],
            f"{label}: config blob digest")
    tap.is_(len(config_bytes), manifest["config"]["size"], f"{label}: config size")
    config = json.loads(config_bytes)
    tap.is_(config["os"], "linux", f"{label}: config os")
    tap.is_(config["architecture"], images.machine_platform()["architecture"],
            f"{label}: config architecture")
    tap.is_(config["config"]["Cmd"], ["sh"], f"{label}: default Cmd")

    _, blob = reg.get(f"/v2/{repo}/blobs/{layer['digest']}")
    tap.is_("sha256:" + sha256_hex(blob), layer["digest"], f"{label}: layer blob digest")
    tap.is_(len(blob), layer["size"], f"{label}: layer size")
    tap.is_(blob[:2] == b"\x1f\x8b", compressed, f"{label}: layer gzip magic")
    tar = gzip.decompress(blob) if compressed else blob
    tap.is_(config["rootfs"], {"type": "layers", "diff_ids": ["sha256:" + sha256_hex(tar)]},
            f"{label}: diff_ids match uncompressed layer")
    if not compressed:
        tap.is_(layer["digest"], config["rootfs"]["diff_ids"][0],
                f"{label}: uncompressed digest is diff_id")
    return read_tar(tar)


def check_busybox_tree(members, label):
    with open(images.BUSYBOX, "rb") as f:
        busybox_sha = sha256_hex(f.read())
    info, content = members.get("bin/busybox", (None, None))
    tap.ok(info is not None and info.isreg(), f"{label}: bin/busybox is a regular file")
    tap.is_(content is not None and sha256_hex(content), busybox_sha,
            f"{label}: bin/busybox matches /bin/busybox")
    tap.is_(info is not None and info.mode, 0o755, f"{label}: bin/busybox mode")

    wrong = [name for name in images.REQUIRED_APPLETS
             if not (f"bin/{name}" in members and members[f"bin/{name}"][0].issym()
                     and members[f"bin/{name}"][0].linkname == "busybox")]
    tap.is_(wrong, [], f"{label}: applet symlinks point at busybox")
    applet_links = [name for name in members if name.startswith("bin/") and name != "bin/busybox"]
    tap.is_(len(applet_links), len(images.busybox_applets()), f"{label}: one link per applet")

    tmp = members.get("tmp", (None, None))[0]
    tap.ok(tmp is not None and tmp.isdir(), f"{label}: tmp is a directory")
    tap.is_(tmp is not None and tmp.mode, 0o1777, f"{label}: tmp mode 1777")
    passwd = members.get("etc/passwd", (None, b""))[1].decode()
    tap.like(passwd, r"(?m)^root:x:0:0:", f"{label}: passwd has root")
    tap.like(passwd, r"(?m)^nobody:x:65534:65534:", f"{label}: passwd has nobody")
    group = members.get("etc/group", (None, b""))[1].decode()
    tap.like(group, r"(?m)^nobody:x:65534:", f"{label}: group has nobody")


def check_images(reg):
    cases = [("docker", True, "docker-gz"), ("oci", True, "oci-gz"), ("oci", False, "oci-tar"),
             ("docker", False, "docker-tar")]
    for fmt, compressed, tag in cases:
        pushed = images.busybox_image(reg, repo="infra/busybox", tag=tag, fmt=fmt,
                                      gzip=compressed)
        members = check_image(reg, "infra/busybox", tag, pushed, fmt, compressed)
        if tag in ("docker-gz", "oci-tar"):
            check_busybox_tree(members, f"busybox {tag}")

    # The same inputs must give the same digests, so tests may hard-code them.
    first = images.busybox_image(reg, repo="infra/again", tag="one", fmt="oci")
    second = images.busybox_image(reg, repo="infra/again", tag="two", fmt="oci")
    tap.is_(second["manifest_digest"], first["manifest_digest"], "busybox image is reproducible")


def check_config_overrides(reg):
    overrides = {"Entrypoint": ["/bin/sh", "-c"], "Cmd": ["echo hi"],
                 "Env": ["PATH=/bin", "GREETING=hello world"], "WorkingDir": "/tmp",
                 "User": "65534:65534", "StopSignal": "SIGUSR1"}
    pushed = images.busybox_image(reg, repo="infra/config", tag="set", fmt="oci",
                                  config_overrides=overrides)
    _, body = reg.get(f"/v2/infra/config/blobs/{pushed['config_digest']}")
    config = json.loads(body)["config"]
    for key, value in overrides.items():
        tap.is_(config.get(key), value, f"config override {key}")

    pushed = images.busybox_image(reg, repo="infra/config", tag="unset",
                                  config_overrides={"Cmd": None})
    _, body = reg.get(f"/v2/infra/config/blobs/{pushed['config_digest']}")
    tap.ok("Cmd" not in json.loads(body)["config"], "config override None removes Cmd")


def check_index(reg, fmt):
    label = f"{fmt} index"
    repo = f"infra/multi-{fmt}"
    here = images.machine_platform()
    there = other_platform()
    native = images.busybox_image(reg, repo=repo, tag=None, fmt=fmt)
    foreign = images.busybox_image(reg, repo=repo, tag=None, fmt=fmt, platform=there)
    tap.is_(native["reference"], f"{reg.host}/{repo}@{native['manifest_digest']}",
            f"{label}: untagged reference uses digest")
    pushed = images.push_index(reg, repo, "latest", [native, foreign], fmt=fmt)

    media_type = images.MEDIA_TYPES[fmt]["index"]
    headers, body = reg.get(f"/v2/{repo}/manifests/latest", accept=media_type)
    tap.is_(headers["Content-Type"], media_type, f"{label}: content type")
    tap.is_(headers["Docker-Content-Digest"], pushed["manifest_digest"], f"{label}: digest header")
    tap.is_("sha256:" + sha256_hex(body), pushed["manifest_digest"], f"{label}: body digest")
    tap.is_(len(body), pushed["size"], f"{label}: size")

    index = json.loads(body)
    tap.is_(index["mediaType"], media_type, f"{label}: mediaType")
    expected = [
        {"mediaType": native["media_type"], "digest": native["manifest_digest"],
         "size": native["size"], "platform": here},
        {"mediaType": foreign["media_type"], "digest": foreign["manifest_digest"],
         "size": foreign["size"], "platform": there},
    ]
    tap.is_(index["manifests"], expected, f"{label}: per-platform entries")

    headers, body = reg.get(f"/v2/{repo}/manifests/{foreign['manifest_digest']}",
                            accept=images.MEDIA_TYPES[fmt]["manifest"])
    tap.is_("sha256:" + sha256_hex(body), foreign["manifest_digest"],
            f"{label}: child manifest by digest")
    _, config = reg.get(f"/v2/{repo}/blobs/{foreign['config_digest']}")
    config = json.loads(config)
    tap.is_([config["architecture"], config.get("variant")],
            [there["architecture"], there.get("variant")], f"{label}: child config platform")

    # A (result, platform) pair lets an index entry disagree with the config.
    claimed = {"os": "linux", "architecture": "s390x"}
    pushed = images.push_index(reg, repo, "claimed", [(native, claimed)], fmt=fmt)
    _, body = reg.get(f"/v2/{repo}/manifests/claimed", accept=media_type)
    tap.is_(json.loads(body)["manifests"][0]["platform"], claimed,
            f"{label}: explicit platform entry")


def check_layer_entries():
    entries = [
        images.directory("etc", mode=0o750, uid=1, gid=2, mtime=1000),
        images.regular("etc/motd", "hello\n", mode=0o640, uid=1000, gid=1001, mtime=2000),
        images.symlink("etc/link", "motd"),
        images.hardlink("etc/hard", "etc/motd"),
        images.whiteout("usr/gone"),
        images.whiteout("top"),
        images.opaque_whiteout("var/cache"),
    ]
    plain = images.build_layer(entries, gzip=False)
    packed = images.build_layer(entries, gzip=True)
    tap.is_(plain.digest, plain.diff_id, "uncompressed layer digest is diff_id")
    tap.is_(packed.diff_id, plain.diff_id, "gzip layer keeps diff_id")
    tap.ok(packed.digest != packed.diff_id, "gzip layer digest differs from diff_id")
    tap.is_(gzip.decompress(packed.blob), plain.tar, "gzip blob decompresses to tar")
    tap.is_(images.build_layer(entries).digest, packed.digest, "layer digest is reproducible")
    tap.is_(plain.media_type("oci"), images.OCI_LAYER_TAR, "uncompressed OCI media type")
    tap.is_(packed.media_type("docker"), images.DOCKER_LAYER_GZIP, "gzip Docker media type")

    members = read_tar(plain.tar)
    tap.is_(list(members), ["etc", "etc/motd", "etc/link", "etc/hard", "usr/.wh.gone", ".wh.top",
                            "var/cache/.wh..wh..opq"], "layer entry names in order")
    info = members["etc"][0]
    tap.is_([info.isdir(), info.mode, info.uid, info.gid, info.mtime],
            [True, 0o750, 1, 2, 1000], "directory entry attributes")
    info, content = members["etc/motd"]
    tap.is_([info.isreg(), info.mode, info.uid, info.gid, info.mtime, content],
            [True, 0o640, 1000, 1001, 2000, b"hello\n"], "regular entry attributes")
    info = members["etc/link"][0]
    tap.is_([info.issym(), info.linkname], [True, "motd"], "symlink entry")
    info = members["etc/hard"][0]
    tap.is_([info.islnk(), info.linkname], [True, "etc/motd"], "hard link entry")
    info, content = members["usr/.wh.gone"]
    tap.is_([info.isreg(), content], [True, b""], "whiteout entry is empty file")
    info, content = members["var/cache/.wh..wh..opq"]
    tap.is_([info.isreg(), content], [True, b""], "opaque marker is empty file")


def run_fake_server(proto, sock_path):
    """Start an in-process gRPC server answering a few CRI methods on both API paths."""
    from concurrent import futures
    import grpc

    calls = []
    module = proto.module

    def version(request, context):
        calls.append(("Version", request))
        return module.VersionResponse(version=request.version, runtime_name="fake")

    def run_pod_sandbox(request, context):
        context.abort(grpc.StatusCode.NOT_FOUND, f"pod {request.config.metadata.name} not found")

    def stop_container(request, context):
        calls.append(("StopContainer", request))
        return module.StopContainerResponse()

    def list_images(request, context):
        time.sleep(2)
        return module.ListImagesResponse()

    def serialize(response):
        return response.SerializeToString()

    handlers = {
        "Version": version,
        "RunPodSandbox": run_pod_sandbox,
        "StopContainer": stop_container,
        "ListImages": list_images,
    }
    streaming = sorted(name for name, method in proto.methods.items()
                       if method.server_streaming and not method.client_streaming)

    def stream_two(method):
        def handler(request, context):
            calls.append((method.name, request))
            yield method.response_class()
            yield method.response_class()
        return handler

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    for api in cri.APIS:
        by_service = {}
        for name, fn in handlers.items():
            method = proto.method(name)
            by_service.setdefault(method.service, {})[name] = grpc.unary_unary_rpc_method_handler(
                fn, request_deserializer=method.request_class.FromString,
                response_serializer=serialize)
        for name in streaming:
            method = proto.method(name)
            by_service.setdefault(method.service, {})[name] = grpc.unary_stream_rpc_method_handler(
                stream_two(method), request_deserializer=method.request_class.FromString,
                response_serializer=serialize)
        for service, methods in by_service.items():
            server.add_generic_rpc_handlers(
                [grpc.method_handlers_generic_handler(f"runtime.{api}.{service}", methods)])
    server.add_insecure_port("unix:" + sock_path)
    server.start()
    return server, calls, streaming


def check_cri():
    path = cri.proto_path()
    if not os.path.exists(path):
        tap.skip("CRI proto compiles", f"{path} does not exist yet")
        return

    proto = cri.default_proto()
    package = proto.package
    tap.like(package, r"^runtime\.v1(alpha2)?$", "proto package is runtime.v1 or v1alpha2")

    request = cri.msg("VersionRequest", version="0.1.0")
    tap.is_(type(request).DESCRIPTOR.full_name, f"{package}.VersionRequest",
            "VersionRequest full name")
    tap.is_(request.SerializeToString(), b"\n\x050.1.0", "VersionRequest wire bytes")

    method = proto.method("RunPodSandbox")
    tap.is_(method.service, "RuntimeService", "RunPodSandbox service")
    tap.is_(method.request_class.DESCRIPTOR.full_name, f"{package}.RunPodSandboxRequest",
            "RunPodSandbox request type")
    tap.is_(method.response_class.DESCRIPTOR.full_name, f"{package}.RunPodSandboxResponse",
            "RunPodSandbox response type")
    tap.is_(method.path("v1"), "/runtime.v1.RuntimeService/RunPodSandbox", "v1 method path")
    tap.is_(proto.method("PullImage").path("v1alpha2"),
            "/runtime.v1alpha2.ImageService/PullImage", "v1alpha2 image method path")

    config = cri.msg("PodSandboxConfig", metadata={"name": "p", "uid": "u", "namespace": "n"},
                     labels={"app": "infra"})
    tap.is_([config.metadata.name, dict(config.labels)], ["p", {"app": "infra"}],
            "msg builds nested message and map")

    with tempfile.TemporaryDirectory(prefix="crisp-t-grpc-") as tmpdir:
        sock_path = os.path.join(tmpdir, "fake.sock")
        server, calls, streaming = run_fake_server(proto, sock_path)
        try:
            check_client(sock_path, calls, streaming)
        finally:
            server.stop(grace=None)


def check_client(sock_path, calls, streaming):
    import grpc

    for api in cri.APIS:
        with cri.Client(sock_path, api=api) as client:
            response = client.call("Version", version="0.1.0")
            tap.is_([response.runtime_name, response.version], ["fake", "0.1.0"],
                    f"{api} call Version")

    client = cri.Client(sock_path)
    try:
        response = client.call("Version", client.msg("VersionRequest", version="9"), timeout=5)
        tap.is_(response.version, "9", "call with request message and timeout")

        details = cri.expect_error(client.call, "NOT_FOUND", "RunPodSandbox",
                                   config={"metadata": {"name": "ghost"}})
        tap.is_(details, "pod ghost not found", "expect_error returns details")
        code, _ = cri.rpc_error(client.call, "Version")
        tap.is_(code, None, "rpc_error on success")
        try:
            cri.expect_error(client.call, grpc.StatusCode.NOT_FOUND, "Version")
            tap.ok(False, "expect_error raises on success")
        except AssertionError:
            tap.ok(True, "expect_error raises on success")

        client.call("StopContainer", container_id="c1", timeout=7)
        tap.is_(calls[-1][1].timeout, 7, "timeout sets StopContainer field")
        code, _ = cri.rpc_error(client.call, "ListImages", timeout=0.2)
        tap.is_(code, grpc.StatusCode.DEADLINE_EXCEEDED, "timeout sets deadline without field")
        code, _ = cri.rpc_error(client.call, "ListImages", rpc_timeout=0.2)
        tap.is_(code, grpc.StatusCode.DEADLINE_EXCEEDED, "rpc_timeout sets deadline")

        if streaming:
            responses = list(client.stream(streaming[0]))
            tap.is_(len(responses), 2, f"stream {streaming[0]} yields both responses")
        else:
            tap.skip("stream yields responses", "proto has no server-streaming method")
    finally:
        client.close()


FAKE_DAEMON = """#!/usr/bin/python3
import signal, socket, sys
args = sys.argv[1:]
print("fake crispd args:", " ".join(args), file=sys.stderr, flush=True)
if "--exit-now" in args:
    sys.exit(3)
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
listener = socket.socket(socket.AF_UNIX)
listener.bind(args[args.index("--socket") + 1])
listener.listen()
while True:
    listener.accept()[0].close()
"""


def check_daemon_runner(reg):
    with tempfile.TemporaryDirectory(prefix="crisp-t-fake-") as tmpdir:
        fake = os.path.join(tmpdir, "crispd")
        with open(fake, "w") as f:
            f.write(FAKE_DAEMON)
        os.chmod(fake, 0o755)

        saved = os.environ.get("CRISPD")
        os.environ["CRISPD"] = fake
        try:
            tap.is_(daemon.daemon_binary(), fake, "daemon_binary honors CRISPD")
        finally:
            if saved is None:
                del os.environ["CRISPD"]
            else:
                os.environ["CRISPD"] = saved

        with daemon.Crispd(registries=[reg, "127.0.0.1:1"], extra_args=["--extra"],
                           binary=fake) as crispd:
            with socket.socket(socket.AF_UNIX) as probe:
                probe.connect(crispd.socket)
                tap.ok(True, "runner waits for socket")
            log = crispd.log()
            tap.like(log, f"--socket {crispd.tmpdir}/crisp.sock --root {crispd.tmpdir}/root "
                          f"--state-dir {crispd.tmpdir}/state --log-level debug",
                     "runner passes directories")
            tap.like(log, f"--insecure-registry {reg.host} --insecure-registry 127.0.0.1:1 --extra",
                     "runner passes registries and extras")
            pid = crispd.pid
            tap.is_(crispd.stop(), 0, "stop returns exit status")
            tap.is_(crispd.stop(), 0, "second stop returns same status")
            tap.ok(not os.path.exists(f"/proc/{pid}"), "stopped daemon is gone")
            tmpdir_used = crispd.tmpdir
        tap.ok(not os.path.exists(tmpdir_used), "runner removes its directory")

        try:
            daemon.Crispd(extra_args=["--exit-now"], binary=fake)
            tap.ok(False, "early exit raises with log")
        except RuntimeError as error:
            tap.like(str(error), r"exited with status 3 .*\n.*fake crispd args:",
                     "early exit raises with log")
            match = re.search(r"on (\S+)/crisp\.sock", str(error))
            tap.ok(match and not os.path.exists(match.group(1)),
                   "early exit removes its directory")


def check_leftovers():
    with tempfile.TemporaryDirectory(prefix="crisp-t-mnt-") as tmpdir:
        tap.is_(daemon.leftovers(tmpdir), [], "leftovers of fresh directory")
        if os.geteuid() != 0:
            tap.skip("leftovers finds tmpfs", "mounting needs root")
            return
        target = os.path.join(tmpdir, "with space")
        os.mkdir(target)
        subprocess.run(["mount", "-t", "tmpfs", "crisp-t", target], check=True)
        try:
            tap.is_(daemon.leftovers(tmpdir), [os.path.realpath(target)], "leftovers finds tmpfs")
        finally:
            subprocess.run(["umount", target], check=True)
        tap.is_(daemon.leftovers(tmpdir), [], "leftovers empty after umount")


def check_registry_stop(reg):
    pid = reg.pid
    port = reg.port
    storage = reg.tmpdir
    reg.stop()
    tap.ok(not os.path.exists(f"/proc/{pid}"), "registry process is gone")
    with socket.socket() as probe:
        tap.is_(probe.connect_ex(("127.0.0.1", port)), errno.ECONNREFUSED,
                "registry port refuses connections")
    tap.ok(not os.path.exists(storage), "registry storage is removed")


def main():
    reg = registry.Registry()
    try:
        for name, check in [("registry basics", lambda: check_registry_basics(reg)),
                            ("images", lambda: check_images(reg)),
                            ("config overrides", lambda: check_config_overrides(reg)),
                            ("oci index", lambda: check_index(reg, "oci")),
                            ("docker manifest list", lambda: check_index(reg, "docker")),
                            ("layer entries", check_layer_entries),
                            ("cri client", check_cri),
                            ("daemon runner", lambda: check_daemon_runner(reg)),
                            ("leftovers", check_leftovers)]:
            with tap.guard(name):
                check()
    finally:
        if tap.failed():
            tap.diag(f"registry log:\n{reg.log()}")
        check_registry_stop(reg)


tap.run(main)
