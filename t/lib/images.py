"""Build container images in memory and push them to a test Registry.

Layers are tar archives built with the tarfile module from entries made by
regular(), directory(), symlink(), hardlink(), whiteout() and
opaque_whiteout(). Every entry has a fixed default mtime and gzip output has
no timestamp, so the same entries always give the same digests.

The usual fixture is busybox_image(): one layer holding the static
/bin/busybox with a symlink per applet, pushed as a single-platform image.
"""

import functools
import gzip as gzip_module
import hashlib
import io
import json
import platform as platform_module
import subprocess
import tarfile

BUSYBOX = "/bin/busybox"

# 2023-11-14T22:13:20Z: a fixed time so that layer and config digests are
# reproducible.
DEFAULT_MTIME = 1700000000
DEFAULT_CREATED = "2023-11-14T22:13:20Z"
DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

# Applets the integration tests run. busybox_entries() fails if one is missing.
REQUIRED_APPLETS = ("sh", "echo", "cat", "sleep", "ls", "id", "hostname", "env", "pwd",
                    "true", "false", "printf")

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"
# Docker's image manifest schema 2 defines only the gzip layer type. This
# uncompressed variant is what containers/image (skopeo) writes, and pullers
# such as containerd accept it.
DOCKER_LAYER_TAR = "application/vnd.docker.image.rootfs.diff.tar"

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_LAYER_TAR = "application/vnd.oci.image.layer.v1.tar"

MEDIA_TYPES = {
    "docker": {"manifest": DOCKER_MANIFEST, "index": DOCKER_MANIFEST_LIST,
               "config": DOCKER_CONFIG, "layer_gzip": DOCKER_LAYER_GZIP,
               "layer_tar": DOCKER_LAYER_TAR},
    "oci": {"manifest": OCI_MANIFEST, "index": OCI_INDEX, "config": OCI_CONFIG,
            "layer_gzip": OCI_LAYER_GZIP, "layer_tar": OCI_LAYER_TAR},
}

# uname -m to (GOARCH, variant), the names OCI platforms use.
_GOARCH = {
    "x86_64": ("amd64", None),
    "aarch64": ("arm64", None),
    "arm64": ("arm64", None),
    "armv7l": ("arm", "v7"),
    "armv6l": ("arm", "v6"),
    "i386": ("386", None),
    "i686": ("386", None),
    "ppc64le": ("ppc64le", None),
    "s390x": ("s390x", None),
    "riscv64": ("riscv64", None),
    "loongarch64": ("loong64", None),
}


def sha256_digest(data):
    """Return the OCI digest string ``sha256:<hex>`` of data."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


def machine_platform():
    """Return this machine's OCI platform: dict(os, architecture[, variant])."""
    machine = platform_module.machine()
    if machine not in _GOARCH:
        raise RuntimeError(f"no GOARCH name known for machine type {machine!r}")
    architecture, variant = _GOARCH[machine]
    result = {"os": "linux", "architecture": architecture}
    if variant:
        result["variant"] = variant
    return result


# Layer entries. Each is a (TarInfo, data) pair, data being None for all but
# regular files. Paths are relative to the root ("bin/sh", not "/bin/sh").

def _tarinfo(path, kind, mode, uid, gid, mtime):
    info = tarfile.TarInfo(path)
    info.type = kind
    info.mode = mode
    info.uid = uid
    info.gid = gid
    info.mtime = DEFAULT_MTIME if mtime is None else mtime
    return info


def regular(path, data, mode=0o644, uid=0, gid=0, mtime=None):
    """Make a regular file entry from data, bytes or a str (encoded as UTF-8)."""
    if isinstance(data, str):
        data = data.encode()
    info = _tarinfo(path, tarfile.REGTYPE, mode, uid, gid, mtime)
    info.size = len(data)
    return info, data


def directory(path, mode=0o755, uid=0, gid=0, mtime=None):
    """Make a directory entry."""
    return _tarinfo(path, tarfile.DIRTYPE, mode, uid, gid, mtime), None


def symlink(path, target, uid=0, gid=0, mtime=None):
    """Make a symbolic link entry pointing at target, stored verbatim."""
    info = _tarinfo(path, tarfile.SYMTYPE, 0o777, uid, gid, mtime)
    info.linkname = target
    return info, None


def hardlink(path, target, mode=0o644, uid=0, gid=0, mtime=None):
    """Make a hard link entry to target, a path of an earlier entry in the same layer."""
    info = _tarinfo(path, tarfile.LNKTYPE, mode, uid, gid, mtime)
    info.linkname = target
    return info, None


def whiteout(path):
    """Make the whiteout file ``DIR/.wh.NAME`` that deletes path from lower layers."""
    parent, _, name = path.rstrip("/").rpartition("/")
    return regular(f"{parent}/.wh.{name}" if parent else f".wh.{name}", b"", mode=0o600)


def opaque_whiteout(dirpath):
    """Make the ``DIR/.wh..wh..opq`` marker that hides everything lower layers put in dirpath."""
    dirpath = dirpath.rstrip("/")
    return regular(f"{dirpath}/.wh..wh..opq" if dirpath else ".wh..wh..opq", b"", mode=0o600)


class Layer:
    """A built layer: the uncompressed tar, the blob to push and their digests.

    Attributes: tar (uncompressed bytes), blob (bytes as pushed: tar itself or
    its gzip), gzip (bool), digest (of blob), diff_id (of tar), size (of blob).
    """

    def __init__(self, tar, gzip=True):
        self.tar = tar
        self.gzip = gzip
        self.blob = gzip_module.compress(tar, mtime=0) if gzip else tar
        self.digest = sha256_digest(self.blob)
        self.diff_id = sha256_digest(tar)
        self.size = len(self.blob)

    def media_type(self, fmt):
        """Return the layer media type for manifest format fmt ('docker' or 'oci')."""
        return MEDIA_TYPES[fmt]["layer_gzip" if self.gzip else "layer_tar"]


def build_tar(entries, tar_format=tarfile.PAX_FORMAT):
    """Return an uncompressed tar archive of entries, in their order."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tar_format) as archive:
        for info, data in entries:
            archive.addfile(info, io.BytesIO(data) if data is not None else None)
    return buffer.getvalue()


def build_layer(entries, gzip=True):
    """Build a Layer from entries, gzip-compressed unless gzip is false."""
    return Layer(build_tar(entries), gzip=gzip)


def busybox_applets():
    """Return the applet names that ``/bin/busybox --list`` prints, without busybox itself."""
    output = subprocess.run([BUSYBOX, "--list"], check=True, capture_output=True,
                            text=True).stdout
    return [name for name in output.split() if name != "busybox"]


def busybox_entries():
    """Return the entries of the busybox base layer.

    It contains bin/busybox with a symlink bin/APPLET -> busybox for each applet,
    etc/passwd and etc/group with root and nobody, root/ and tmp/ (mode 1777).
    """
    applets = busybox_applets()
    missing = [name for name in REQUIRED_APPLETS if name not in applets]
    if missing:
        raise RuntimeError(f"{BUSYBOX} lacks applets the tests need: {', '.join(missing)}")

    with open(BUSYBOX, "rb") as f:
        binary = f.read()
    entries = [
        directory("bin"),
        directory("etc"),
        directory("root", mode=0o700),
        directory("tmp", mode=0o1777),
        regular("bin/busybox", binary, mode=0o755),
    ]
    entries += [symlink(f"bin/{name}", "busybox") for name in applets]
    entries += [
        regular("etc/passwd", "root:x:0:0:root:/root:/bin/sh\n"
                              "nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"),
        regular("etc/group", "root:x:0:\nnobody:x:65534:\n"),
    ]
    return entries


@functools.lru_cache(maxsize=None)
def busybox_layer(gzip=True):
    """Return the busybox base Layer (built once per process for each gzip value)."""
    return build_layer(busybox_entries(), gzip=gzip)


def image_config(diff_ids, config_overrides=None, platform=None):
    """Return an image configuration (a dict) for layers with the given diff_ids.

    config_overrides sets fields of the container config, with Docker's
    names: Entrypoint, Cmd, Env, WorkingDir, User, StopSignal, Labels,
    ExposedPorts, Volumes. A value of None removes the field. platform is a
    dict with os, architecture and optional variant; it defaults to this
    machine's.
    """
    platform = platform or machine_platform()
    container_config = {"Env": [DEFAULT_PATH], "Cmd": ["sh"]}
    for key, value in (config_overrides or {}).items():
        if value is None:
            container_config.pop(key, None)
        else:
            container_config[key] = value

    config = {
        "created": DEFAULT_CREATED,
        "architecture": platform["architecture"],
        "os": platform["os"],
        "config": container_config,
        "rootfs": {"type": "layers", "diff_ids": list(diff_ids)},
        "history": [{"created": DEFAULT_CREATED, "created_by": f"crisp test layer {i}"}
                    for i in range(len(diff_ids))],
    }
    if platform.get("variant"):
        config["variant"] = platform["variant"]
    return config


def encode_json(document):
    """Serialize a manifest, index or config the same way every time."""
    return json.dumps(document, indent=2, sort_keys=True).encode()


def _descriptor(media_type, digest, size):
    return {"mediaType": media_type, "digest": digest, "size": size}


def push_image(registry, repo, tag, layers, config_overrides=None, fmt="docker", gzip=True,
               platform=None):
    """Push layers, a config and a manifest as repo:tag, and return what was pushed.

    layers: Layer objects, pushed as built, or entry lists, built here and
    compressed when gzip is true. fmt 'docker' writes a Docker image manifest
    schema 2, 'oci' an OCI image manifest. tag None pushes by digest only.
    config_overrides and platform are passed to image_config().

    The returned dict holds manifest_digest, config_digest, layer_digests,
    diff_ids, size (of the manifest), media_type, manifest (bytes), config
    (dict), platform and reference (``HOST/REPO:TAG``, or ``@DIGEST``
    without a tag).
    """
    if fmt not in MEDIA_TYPES:
        raise ValueError(f"unknown image format {fmt!r}; expected 'docker' or 'oci'")
    types = MEDIA_TYPES[fmt]
    built = [item if isinstance(item, Layer) else build_layer(item, gzip=gzip) for item in layers]
    for item in built:
        registry.push_blob(repo, item.blob)

    platform = platform or machine_platform()
    config = image_config([item.diff_id for item in built], config_overrides, platform)
    config_bytes = encode_json(config)
    config_digest = registry.push_blob(repo, config_bytes)

    manifest = {
        "schemaVersion": 2,
        "mediaType": types["manifest"],
        "config": _descriptor(types["config"], config_digest, len(config_bytes)),
        "layers": [_descriptor(item.media_type(fmt), item.digest, item.size) for item in built],
    }
    manifest_bytes = encode_json(manifest)
    manifest_digest = registry.push_manifest(repo, tag or sha256_digest(manifest_bytes),
                                             manifest_bytes, types["manifest"])
    return {
        "manifest_digest": manifest_digest,
        "config_digest": config_digest,
        "layer_digests": [item.digest for item in built],
        "diff_ids": [item.diff_id for item in built],
        "size": len(manifest_bytes),
        "media_type": types["manifest"],
        "manifest": manifest_bytes,
        "config": config,
        "platform": platform,
        "reference": (f"{registry.host}/{repo}:{tag}" if tag
                      else f"{registry.host}/{repo}@{manifest_digest}"),
    }


def push_index(registry, repo, tag, platform_manifests, fmt="oci"):
    """Push an OCI image index (fmt 'oci') or Docker manifest list ('docker') as repo:tag.

    platform_manifests contains push_image() results, already pushed to repo.
    Each entry's platform is the one its image was built for, unless the
    entry is a (result, platform) pair, which lets a test describe an image
    with a platform its config does not claim.

    Returns a dict with manifest_digest, size, media_type, manifest (bytes)
    and reference.
    """
    if fmt not in MEDIA_TYPES:
        raise ValueError(f"unknown index format {fmt!r}; expected 'docker' or 'oci'")
    media_type = MEDIA_TYPES[fmt]["index"]
    entries = []
    for item in platform_manifests:
        image, platform = item if isinstance(item, tuple) else (item, item["platform"])
        entry = _descriptor(image["media_type"], image["manifest_digest"], image["size"])
        entry["platform"] = {key: platform[key] for key in ("architecture", "os", "variant")
                             if platform.get(key)}
        entries.append(entry)

    index = {"schemaVersion": 2, "mediaType": media_type, "manifests": entries}
    index_bytes = encode_json(index)
    digest = registry.push_manifest(repo, tag or sha256_digest(index_bytes), index_bytes,
                                    media_type)
    return {
        "manifest_digest": digest,
        "size": len(index_bytes),
        "media_type": media_type,
        "manifest": index_bytes,
        "reference": f"{registry.host}/{repo}:{tag}" if tag else f"{registry.host}/{repo}@{digest}",
    }


def busybox_image(registry, repo="busybox", tag="latest", extra_layers=(), **kw):
    """Push the busybox base layer, then extra_layers, as repo:tag, like push_image().

    Keyword arguments (config_overrides, fmt, gzip, platform) go to
    push_image(). The default command is ``sh``. A platform other than this
    machine's only changes the labels: the binary is still this machine's
    busybox.
    """
    gzip = kw.pop("gzip", True)
    layers = [busybox_layer(gzip)]
    layers += [item if isinstance(item, Layer) else build_layer(item, gzip=gzip)
               for item in extra_layers]
    return push_image(registry, repo, tag, layers, gzip=gzip, **kw)
