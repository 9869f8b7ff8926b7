"""A real OCI registry on loopback for tests (Debian `docker-registry`, filesystem storage), and
images built offline: layers are tar files made here, pushed with skopeo. No internet.

    with LocalRegistry(port, tmp) as registry:
        digest = registry.push("web:1", busybox_web_image("hello v1"))

`busybox_web_image` is a static busybox (Debian `busybox-static`) serving /www with
`busybox httpd`, plus a CGI probe (/cgi-bin/probe?connect&HOST&PORT, ?routes, ?file&PATH) that
tests use to look at the network from inside the container.
"""

import gzip
import hashlib
import io
import json
import shutil
import subprocess
import tarfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from berth_testing.processes import wait_until

REGISTRY = "/usr/bin/docker-registry"
SKOPEO = "/usr/bin/skopeo"
BUSYBOX = Path("/bin/busybox")
PROBE = """#!/bin/busybox sh
echo "Content-Type: text/plain"
echo
set -- $(echo "$QUERY_STRING" | busybox tr '&' ' ')
case "$1" in
  connect) out=$(busybox nc -w 2 "$2" "$3" </dev/null 2>&1); echo "code=$? $out";;
  routes) busybox ip route show 2>&1;;
  file) busybox cat "$2" 2>&1;;
  id) busybox id; echo "pid1=$(busybox cat /proc/1/cmdline | busybox tr '\\0' ' ')";;
esac
"""


@dataclass
class Image:
    """An image as files: path -> bytes (a file), or (mode, bytes), or "->target" (a link)."""

    files: dict[str, bytes | str | tuple[int, bytes]]
    entrypoint: list[str] = field(default_factory=list)
    cmd: list[str] = field(default_factory=list)
    env: list[str] = field(default_factory=list)
    exposed: list[int] = field(default_factory=list)
    user: str = ""


def busybox_web_image(body: str, port: int = 8080) -> Image:
    busybox = BUSYBOX.read_bytes()
    return Image(
        files={
            "bin/busybox": (0o755, busybox),
            "bin/sh": "->busybox",
            "www/index.html": body.encode(),
            "www/cgi-bin/probe": (0o755, PROBE.encode()),
        },
        entrypoint=["/bin/busybox", "httpd", "-f", "-h", "/www"],
        cmd=["-p", str(port)],
        env=["PATH=/bin", f"GREETING={body}"],
        exposed=[port],
    )


def _layer(files: dict) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        dirs: set[str] = set()
        for path in sorted(files):
            parts = path.split("/")[:-1]
            for i in range(1, len(parts) + 1):
                d = "/".join(parts[:i])
                if d not in dirs:
                    dirs.add(d)
                    info = tarfile.TarInfo(d)
                    info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, 1
                    tar.addfile(info)
            value = files[path]
            info = tarfile.TarInfo(path)
            info.mtime = 1
            if isinstance(value, str) and value.startswith("->"):
                info.type, info.linkname = tarfile.SYMTYPE, value[2:]
                tar.addfile(info)
                continue
            mode, data = value if isinstance(value, tuple) else (0o644, value)
            info.mode, info.size = mode, len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _put(blobs: Path, data: bytes) -> str:
    digest = hashlib.sha256(data).hexdigest()
    (blobs / digest).write_bytes(data)
    return f"sha256:{digest}"


def oci_layout(image: Image, dest: Path) -> Path:
    """The image as an OCI layout directory (one gzip layer)."""
    blobs = dest / "blobs" / "sha256"
    blobs.mkdir(parents=True)
    tar = _layer(image.files)
    layer = gzip.compress(tar, mtime=0)
    layer_digest = _put(blobs, layer)
    config = {
        "architecture": "amd64",
        "os": "linux",
        "config": {
            "Entrypoint": image.entrypoint or None,
            "Cmd": image.cmd or None,
            "Env": image.env,
            "User": image.user,
            "ExposedPorts": {f"{p}/tcp": {} for p in image.exposed},
        },
        "rootfs": {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(tar).hexdigest()]},
    }
    config_data = json.dumps(config).encode()
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": _put(blobs, config_data),
            "size": len(config_data),
        },
        "layers": [
            {
                "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                "digest": layer_digest,
                "size": len(layer),
            }
        ],
    }
    manifest_data = json.dumps(manifest).encode()
    index = {
        "schemaVersion": 2,
        "manifests": [
            {
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": _put(blobs, manifest_data),
                "size": len(manifest_data),
                "annotations": {"org.opencontainers.image.ref.name": "image"},
            }
        ],
    }
    (dest / "index.json").write_text(json.dumps(index))
    (dest / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    return dest


class LocalRegistry:
    """docker-registry on 127.0.0.1:<port>, storing under `root`; plain HTTP."""

    def __init__(self, port: int, root: Path):
        self.port = port
        self.root = root
        self.host = f"127.0.0.1:{port}"
        self.proc: subprocess.Popen | None = None
        self._n = 0

    def __enter__(self) -> "LocalRegistry":
        self.root.mkdir(parents=True, exist_ok=True)
        config = self.root / "config.yml"
        config.write_text(
            "version: 0.1\n"
            "log:\n  level: warn\n"
            f"storage:\n  filesystem:\n    rootdirectory: {self.root / 'data'}\n"
            "  delete:\n    enabled: true\n"
            f"http:\n  addr: {self.host}\n"
        )
        log = (self.root / "registry.log").open("w")
        self.proc = subprocess.Popen(  # noqa: S603 - fixed argv
            [REGISTRY, "serve", str(config)], stdout=log, stderr=log
        )
        wait_until(
            lambda: httpx.get(f"http://{self.host}/v2/", timeout=1).status_code == 200,
            15,
            "the registry to answer",
        )
        return self

    def __exit__(self, *exc) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def push(self, name: str, image: Image) -> str:
        """Push the image as <registry>/<name> (name carries its tag); its manifest digest."""
        self._n += 1
        layout = oci_layout(image, self.root / "layouts" / f"{self._n}-{time.time_ns()}")
        ref = f"docker://{self.host}/{name}"
        subprocess.run(  # noqa: S603 - fixed argv
            [SKOPEO, "--insecure-policy", "copy", "--quiet", "--dest-tls-verify=false",
             f"oci:{layout}:image", ref],
            check=True, capture_output=True,
        )  # fmt: skip
        shutil.rmtree(layout, ignore_errors=True)
        out = subprocess.run(  # noqa: S603 - fixed argv
            [SKOPEO, "inspect", "--tls-verify=false", "--format", "{{.Digest}}", ref],
            check=True, capture_output=True, text=True,
        ).stdout  # fmt: skip
        return out.strip()

    def blob_file(self, digest: str) -> Path:
        """Where the registry keeps a blob (tests tamper with it)."""
        value = digest.split(":", 1)[1]
        return self.root / "data/docker/registry/v2/blobs/sha256" / value[:2] / value / "data"

    def layer_digests(self, name: str) -> list[str]:
        out = subprocess.run(  # noqa: S603 - fixed argv
            [SKOPEO, "inspect", "--tls-verify=false", f"docker://{self.host}/{name}"],
            check=True, capture_output=True, text=True,
        ).stdout  # fmt: skip
        return json.loads(out)["Layers"]
