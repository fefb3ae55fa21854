#!/usr/bin/python3
"""Version, Status, routing of unknown and unsupported methods, and shutdown."""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))

import cri  # noqa: E402
import tap  # noqa: E402
from daemon import Crispd  # noqa: E402


def check_version(d):
    for api in ("v1", "v1alpha2"):
        with d.client(api) as c:
            v = c.call("Version", version="0.1.0")
            tap.is_(v.runtime_name, "crisp", f"{api} Version runtime_name")
            tap.like(v.runtime_version, r"^\d+\.\d+\.\d+$", f"{api} Version runtime_version is semver")
            tap.is_(v.runtime_api_version, api, f"{api} Version runtime_api_version")
            tap.is_(v.version, "0.1.0", f"{api} Version version")


def check_status(d):
    with d.client() as c:
        s = c.call("Status")
        conds = {cond.type: cond for cond in s.status.conditions}
        tap.is_(sorted(conds), ["NetworkReady", "RuntimeReady"], "Status has both conditions")
        tap.is_(conds["RuntimeReady"].status, True, "RuntimeReady is true")
        tap.is_(conds["NetworkReady"].status, False, "NetworkReady is false")
        tap.is_(conds["NetworkReady"].reason, "NetworkPluginNotReady", "NetworkReady reason")
        tap.like(conds["NetworkReady"].message, r"no pod network", "NetworkReady message says why")


def check_routing(d):
    with d.client() as c:
        details = cri.expect_error(c.call, "UNIMPLEMENTED", "ExecSync", container_id="x", cmd=["true"])
        tap.is_(details, "ExecSync is not supported by crisp yet", "unsupported call names itself")
        # Every ImageService call is implemented now, so ImageFsInfo answers.
        info = c.call("ImageFsInfo")
        tap.is_(len(info.image_filesystems), 1, "image service call is routed")

    import grpc
    channel = grpc.insecure_channel("unix:" + d.socket)
    unknown = channel.unary_unary("/runtime.v1.RuntimeService/NoSuchMethod",
                                  request_serializer=lambda b: b, response_deserializer=lambda b: b)
    code, details = cri.rpc_error(unknown, b"", timeout=10)
    tap.is_(code, grpc.StatusCode.UNIMPLEMENTED, "unknown method is UNIMPLEMENTED")
    other = channel.unary_unary("/other.Service/Version",
                                request_serializer=lambda b: b, response_deserializer=lambda b: b)
    code, _ = cri.rpc_error(other, b"", timeout=10)
    tap.is_(code, grpc.StatusCode.UNIMPLEMENTED, "unknown service is UNIMPLEMENTED")

    # Field 1 of StatusRequest is a bool; a length-delimited field 1 with a
    # length past the end is not a valid message.
    status = channel.unary_unary("/runtime.v1.RuntimeService/Status",
                                 request_serializer=lambda b: b, response_deserializer=lambda b: b)
    code, details = cri.rpc_error(status, b"\x0a\x05ab", timeout=10)
    tap.is_(code, grpc.StatusCode.INVALID_ARGUMENT, "malformed protobuf is INVALID_ARGUMENT")
    tap.like(details or "", r"malformed Status request", "the error names the call")
    channel.close()


def check_socket_mode(d):
    mode = os.stat(d.socket).st_mode & 0o777
    tap.is_(oct(mode), oct(0o660), "socket mode is 0660")


def body():
    with Crispd() as d:
        check_version(d)
        check_status(d)
        check_routing(d)
        check_socket_mode(d)
        # Bad input must not have taken the daemon down.
        with d.client() as c:
            tap.is_(c.call("Version").runtime_name, "crisp", "daemon still serves after bad input")
        # A second crispd on the same socket must not take it from the first.
        import subprocess
        from daemon import daemon_binary
        second = subprocess.run([daemon_binary(), "--socket", d.socket, "--root", d.root + "2",
                                 "--state-dir", d.state_dir + "2", "--no-keeper"],
                                capture_output=True, text=True, timeout=30)
        tap.is_(second.returncode, 1, "a second crispd on a live socket exits 1")
        tap.like(second.stderr, r"socket '.*' is in use", "and says the socket is in use")
        second = subprocess.run([daemon_binary(), "--socket", d.socket + "2", "--root", d.root,
                                 "--state-dir", d.state_dir + "2", "--no-keeper"],
                                capture_output=True, text=True, timeout=30)
        tap.is_(second.returncode, 1, "a second crispd on the same root exits 1")
        tap.like(second.stderr, r"another crispd runs on root directory", "and names the reason")
        with d.client() as c:
            tap.is_(c.call("Version").runtime_name, "crisp", "the first crispd still serves")
        status = d.stop()
        tap.is_(status, 0, "SIGTERM stops crispd with exit status 0")
        tap.ok(not os.path.exists(d.socket), "socket file is removed on shutdown")
        tap.like(d.log(), r'level=info msg="crispd stopped"', "shutdown is logged")

    import subprocess
    from daemon import daemon_binary
    out = subprocess.run([daemon_binary(), "--help"], capture_output=True, text=True)
    tap.is_(out.returncode, 0, "--help exits 0")
    for option in ("--socket", "--root", "--state-dir", "--log-level", "--config"):
        tap.ok(option in out.stdout, f"--help documents {option}")
    import tempfile
    with tempfile.NamedTemporaryFile("w", suffix=".json") as conf:
        conf.write('{"insecure_registry": ["127.0.0.1:5000"]}')
        conf.flush()
        out = subprocess.run([daemon_binary(), "--config", conf.name, "--socket", "/nonexistent/x"],
                             capture_output=True, text=True)
        tap.is_(out.returncode, 1, "an unknown config key exits 1")
        tap.like(out.stderr, r"unknown key 'insecure_registry'", "and names the key")
    with tempfile.NamedTemporaryFile("w", suffix=".json") as conf:
        conf.write('{"insecure_registries": "127.0.0.1:5000"}')
        conf.flush()
        out = subprocess.run([daemon_binary(), "--config", conf.name, "--socket", "/nonexistent/x"],
                             capture_output=True, text=True)
        tap.like(out.stderr, r"'insecure_registries' must be an array of strings",
                 "a value of the wrong type is named")
    out = subprocess.run([daemon_binary(), "--log-level", "chatty", "--socket", "/nonexistent/x"],
                         capture_output=True, text=True)
    tap.is_(out.returncode, 1, "invalid log level exits 1")
    tap.like(out.stderr, r"invalid log level 'chatty'", "invalid log level is named")

    # A crispd copied away from its crisp-unpack (and not installed) does not start.
    import shutil
    with tempfile.TemporaryDirectory() as alone:
        binary = shutil.copy(daemon_binary(), alone)
        pause = os.path.join(os.path.dirname(daemon_binary()), "crisp-pause")
        out = subprocess.run([binary, "--pause-binary", pause, "--socket", "/nonexistent/x"],
                             capture_output=True, text=True)
        tap.is_(out.returncode, 1, "missing crisp-unpack exits 1")
        tap.like(out.stderr, r"layer unpack program '[^']*/crisp-unpack' is not executable",
                 "missing crisp-unpack is named")


tap.run(body)
