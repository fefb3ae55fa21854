"""Call CRI (Kubernetes Container Runtime Interface) methods over gRPC.

The message classes come from the project's own proto, src/proto/api.proto
under the source directory ($CRISP_SRCDIR, else the repository that
contains this file). On first use protoc compiles it with --python_out into a
temporary directory and the result is imported. protoc's gRPC plugin is not
needed: the service definitions in the file descriptor give each method's
request and response types, and grpc's generic channel calls carry them.

The client uses nothing specific to crisp, so it works with any CRI server.
"""

import atexit
import importlib.util
import os
import shutil
import subprocess
import tempfile

import grpc

APIS = ("v1", "v1alpha2")
DEFAULT_RPC_TIMEOUT = 30.0
# kubelet's CRI client (pkg/kubelet/cri/remote) raises gRPC's default message
# limit of 4 MiB to 16 MiB, so a runtime may send list responses that large.
MAX_MESSAGE_SIZE = 16 * 1024 * 1024

_loaded = {}
_UNSET = object()


def source_dir():
    """Return the source tree: $CRISP_SRCDIR, else the repository that contains t/lib/."""
    env = os.environ.get("CRISP_SRCDIR")
    if env:
        return env
    return os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def proto_path():
    """Return the path of the CRI proto the tests use: <source_dir>/src/proto/api.proto."""
    return os.path.join(source_dir(), "src", "proto", "api.proto")


def load_proto(path=None):
    """Compile the proto at path (default proto_path()) and return its generated module.

    The result is cached per path. Generated code registers the file in
    protobuf's default descriptor pool under its base name, so one process
    can load only one file named api.proto.
    """
    path = os.path.abspath(path or proto_path())
    if path in _loaded:
        return _loaded[path]
    if not os.path.exists(path):
        raise FileNotFoundError(f"CRI proto not found: {path} "
                                f"(set CRISP_SRCDIR to the source tree)")

    outdir = tempfile.mkdtemp(prefix="crisp-proto-")
    atexit.register(shutil.rmtree, outdir, True)
    result = subprocess.run(
        ["protoc", f"--proto_path={os.path.dirname(path)}", f"--python_out={outdir}", path],
        capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"protoc failed on {path} with status {result.returncode}:\n"
                           f"{result.stderr}")

    stem = os.path.splitext(os.path.basename(path))[0]
    generated = os.path.join(outdir, f"{stem}_pb2.py")
    spec = importlib.util.spec_from_file_location(f"crisp_cri_{stem}_pb2", generated)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    _loaded[path] = module
    return module


class Method:
    """One RPC of the proto: its service, request and response classes, and streaming kind."""

    def __init__(self, service, name, request_class, response_class, server_streaming,
                 client_streaming):
        self.service = service
        self.name = name
        self.request_class = request_class
        self.response_class = response_class
        self.server_streaming = server_streaming
        self.client_streaming = client_streaming

    def path(self, api):
        """Return the gRPC method path for CRI version api: /runtime.API.SERVICE/METHOD."""
        return f"/runtime.{api}.{self.service}/{self.name}"


class Proto:
    """Message classes and methods of one compiled CRI proto, looked up by name."""

    def __init__(self, path=None):
        self.module = load_proto(path)
        self.package = self.module.DESCRIPTOR.package
        self.methods = {}
        for service in self.module.DESCRIPTOR.services_by_name.values():
            for method in service.methods:
                if method.name in self.methods:
                    raise RuntimeError(f"method {method.name} is defined by both "
                                       f"{self.methods[method.name].service} and {service.name}")
                self.methods[method.name] = Method(
                    service.name, method.name,
                    self._class_of(method.input_type), self._class_of(method.output_type),
                    method.server_streaming, method.client_streaming)

    def message_class(self, name):
        """Return the class of message name: short ('PodSandboxConfig'), nested ('A.B') or full."""
        prefix = self.package + "."
        relative = name[len(prefix):] if name.startswith(prefix) else name
        found = self.module
        for part in relative.split("."):
            found = getattr(found, part, None)
            if found is None:
                raise KeyError(f"message {name!r} not found in package {self.package}")
        return found

    def _class_of(self, descriptor):
        if descriptor.file.package == self.package:
            return self.message_class(descriptor.full_name)
        raise RuntimeError(f"{descriptor.full_name} comes from another package; "
                           f"only types of package {self.package} are supported")

    def method(self, name):
        """Return the Method called name, from either service."""
        if name not in self.methods:
            raise KeyError(f"method {name!r} not found in {self.package}; "
                           f"known methods: {', '.join(sorted(self.methods))}")
        return self.methods[name]

    def msg(self, name, /, **fields):
        """Build message name with fields, where submessages and maps may be given as dicts."""
        return self.message_class(name)(**fields)


_default_proto = None


def default_proto():
    """Return the Proto of proto_path(), compiled on first use."""
    global _default_proto
    if _default_proto is None:
        _default_proto = Proto()
    return _default_proto


def msg(name, /, **fields):
    """Build a message of the default proto, like Proto.msg."""
    return default_proto().msg(name, **fields)


class Client:
    """A CRI client on a Unix socket, for the runtime.v1 or runtime.v1alpha2 method paths.

    Both API versions share one wire format, so the messages of the compiled
    proto serve either path.
    """

    def __init__(self, socket_path, api="v1", proto=None):
        if api not in APIS:
            raise ValueError(f"unknown CRI API version {api!r}; expected one of {', '.join(APIS)}")
        self.api = api
        self.socket_path = socket_path
        self.proto = proto or default_proto()
        self.channel = grpc.insecure_channel(
            "unix:" + socket_path,
            options=[("grpc.max_receive_message_length", MAX_MESSAGE_SIZE),
                     ("grpc.max_send_message_length", MAX_MESSAGE_SIZE)])

    def close(self):
        """Close the gRPC channel."""
        self.channel.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def msg(self, name, /, **fields):
        """Build message name of this client's proto with fields."""
        return self.proto.msg(name, **fields)

    def _prepare(self, method_name, request, rpc_timeout, fields):
        """Return (Method, request message, deadline in seconds) for call() and stream().

        ``timeout`` names a field in StopContainerRequest and ExecSyncRequest,
        so it sets that field where the request has one and the deadline
        otherwise. ``rpc_timeout`` always sets the deadline.
        """
        method = self.proto.method(method_name)
        timeout_is_field = "timeout" in method.request_class.DESCRIPTOR.fields_by_name
        deadline = DEFAULT_RPC_TIMEOUT
        if rpc_timeout is not _UNSET:
            deadline = rpc_timeout
            if "timeout" in fields and not timeout_is_field:
                raise TypeError(f"{method_name}: timeout and rpc_timeout both set the deadline; "
                                f"pass only one")
        elif "timeout" in fields and not timeout_is_field:
            deadline = fields.pop("timeout")

        if request is None:
            request = method.request_class(**fields)
        elif fields:
            raise TypeError(f"{method_name}: pass a request message or fields, not both")
        elif request.DESCRIPTOR.full_name != method.request_class.DESCRIPTOR.full_name:
            raise TypeError(f"{method_name} takes {method.request_class.DESCRIPTOR.full_name}, "
                            f"not {request.DESCRIPTOR.full_name}")
        return method, request, deadline

    def call(self, method_name, request=None, /, *, rpc_timeout=_UNSET, metadata=None, **fields):
        """Call unary method method_name and return its response message.

        Give either a request message or its fields as keyword arguments.
        ``rpc_timeout=`` sets the deadline in seconds (default 30, None for
        none), as does ``timeout=`` for requests without a timeout field.
        Raises grpc.RpcError when the server returns a status other than OK.
        """
        method, request, deadline = self._prepare(method_name, request, rpc_timeout, fields)
        if method.server_streaming or method.client_streaming:
            raise TypeError(f"{method_name} is a streaming method; use stream()")
        callable_ = self.channel.unary_unary(
            method.path(self.api),
            request_serializer=method.request_class.SerializeToString,
            response_deserializer=method.response_class.FromString)
        return callable_(request, timeout=deadline, metadata=metadata)

    def stream(self, method_name, request=None, /, *, rpc_timeout=_UNSET, metadata=None,
               **fields):
        """Call server-streaming method method_name and return an iterator of responses.

        Arguments are as for call(). The iterator is also the grpc.Call, so
        cancel() ends a long-lived stream such as GetContainerEvents, and
        iterating raises grpc.RpcError if the stream ends with an error.
        """
        method, request, deadline = self._prepare(method_name, request, rpc_timeout, fields)
        if not method.server_streaming or method.client_streaming:
            raise TypeError(f"{method_name} is not a server-streaming method; use call()")
        callable_ = self.channel.unary_stream(
            method.path(self.api),
            request_serializer=method.request_class.SerializeToString,
            response_deserializer=method.response_class.FromString)
        return callable_(request, timeout=deadline, metadata=metadata)


def pull_image(c, ref, rpc_timeout=120, **auth):
    """Call PullImage for ref on client c, with AuthConfig fields auth if any; return image_ref."""
    fields = {"image": c.msg("ImageSpec", image=ref)}
    if auth:
        fields["auth"] = c.msg("AuthConfig", **auth)
    return c.call("PullImage", rpc_timeout=rpc_timeout, **fields).image_ref


def _status_code(code):
    return code if isinstance(code, grpc.StatusCode) else grpc.StatusCode[code]


def rpc_error(fn, *args, **kwargs):
    """Call fn(*args, **kwargs) and return its gRPC error as (grpc.StatusCode, details).

    Returns (None, None) when fn succeeds.
    """
    try:
        fn(*args, **kwargs)
    except grpc.RpcError as error:
        return error.code(), error.details()
    return None, None


def expect_error(fn, code, *args, **kwargs):
    """Call fn(*args, **kwargs), expecting a gRPC error with status code; return its details.

    code is a grpc.StatusCode or its name ('NOT_FOUND'). Raises
    AssertionError if fn succeeds or fails with another status.
    """
    expected = _status_code(code)
    got, details = rpc_error(fn, *args, **kwargs)
    if got is None:
        raise AssertionError(f"expected gRPC status {expected.name}, but the call succeeded")
    if got != expected:
        raise AssertionError(f"expected gRPC status {expected.name}, got {got.name}: {details}")
    return details
