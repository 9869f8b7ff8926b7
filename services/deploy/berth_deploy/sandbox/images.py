"""OCI images: references, the operator's registry allowlist, and fetching by digest (skopeo).

A container app names an image (`registry/repository[:tag][@sha256:...]`) on a registry the
operator allows (DEPLOY_CONTAINER_REGISTRIES). At deploy time the reference is resolved to
the digest of its manifest, the digest is recorded in the release, and exactly that digest is
copied into the node's image store (skopeo checks every blob against its digest as it
copies); a rollback unpacks the release it returns to, whose digest never changes.

skopeo runs as the deploy worker, on the node's own network, and talks only to an allowed
registry: it moves bytes and checks digests, it runs nothing of the image. What is inside the
image is unpacked by oci_unpack.py in the app's sandbox, as the app's uid.

Registry credentials reach skopeo in an auth file that is a memfd (never on disk, never in
argv); nothing of them is logged.
"""

import asyncio
import base64
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

from loguru import logger

from berth_common.errors import Unprocessable

# a host (name or IPv4) with an optional port, then path components, then :tag and/or @digest
_HOST = r"(?:localhost|[a-zA-Z0-9-]+(?:\.[a-zA-Z0-9-]+)+|[a-zA-Z0-9-]+:[0-9]+|"
_HOST += r"[a-zA-Z0-9-]+(?:\.[a-zA-Z0-9-]+)+:[0-9]+|localhost:[0-9]+)"
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
IMAGE_RE = re.compile(
    rf"^(?:(?P<host>{_HOST})/)?(?P<repo>{_COMPONENT}(?:/{_COMPONENT})*)"
    r"(?::(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}))?"
    r"(?:@(?P<digest>sha256:[a-f0-9]{64}))?$"
)
DIGEST_RE = re.compile(r"^sha256:[a-f0-9]{64}$")
DOCKER_HUB = "docker.io"


class InvalidImage(Unprocessable):
    code = "invalid_image"


class RegistryNotAllowed(Unprocessable):
    code = "registry_not_allowed"


@dataclass(frozen=True)
class ImageRef:
    registry: str
    repository: str
    tag: str | None
    digest: str | None

    def __str__(self) -> str:
        name = f"{self.registry}/{self.repository}"
        if self.tag:
            name += f":{self.tag}"
        if self.digest:
            name += f"@{self.digest}"
        return name

    @property
    def wanted(self) -> str:
        """What skopeo asks the registry for: the digest when pinned, else the tag."""
        if self.digest:
            return f"{self.registry}/{self.repository}@{self.digest}"
        return f"{self.registry}/{self.repository}:{self.tag or 'latest'}"

    def pinned(self, digest: str) -> str:
        return f"{self.registry}/{self.repository}@{digest}"


def parse_image(value: str) -> ImageRef:
    """An image reference as docker and podman read it (a bare name is on Docker Hub)."""
    match = IMAGE_RE.match(value.strip()) if len(value) <= 500 else None
    if match is None:
        raise InvalidImage(
            "Not an image reference: expected registry/repository[:tag][@sha256:<64 hex>], "
            "e.g. registry.example.com/team/web:1.2",
            details={"field": "image"},
        )
    host, repo = match["host"], match["repo"]
    if host is None:
        host = DOCKER_HUB
        if "/" not in repo:
            repo = f"library/{repo}"
    return ImageRef(host.lower(), repo, match["tag"], match["digest"])


def registry_list(value: str) -> list[str]:
    return [part.strip().lower() for part in value.split(",") if part.strip()]


def check_allowed(ref: ImageRef, allowed: list[str]) -> None:
    if ref.registry not in allowed:
        shown = ", ".join(allowed) if allowed else "none: this platform takes no images"
        raise RegistryNotAllowed(
            f"Images from {ref.registry} are not allowed here; allowed registries: {shown}",
            details={"field": "image", "registry": ref.registry, "allowed": allowed},
        )


@dataclass(frozen=True)
class RegistryAuth:
    username: str
    password: str

    def __repr__(self) -> str:
        return f"RegistryAuth({self.username!r}, ***)"


class ImageFetchFailed(Exception):
    """Why an image could not be fetched, in words safe for the app's owner."""


@dataclass(frozen=True)
class Resolved:
    digest: str
    size: int


def _explain(stderr: str, ref: ImageRef) -> str:
    text = stderr.lower()
    if "digest did not match" in text or "digest mismatch" in text or "does not match" in text:
        return f"the content of {ref} does not match its digest (tampered or corrupted): refused"
    if "manifest unknown" in text or "not found" in text or "name unknown" in text:
        return f"{ref} was not found in its registry (check the repository, tag or digest)"
    if "unauthorized" in text or "authentication required" in text or "denied" in text:
        return f"the registry {ref.registry} refused access to {ref.repository} (credentials?)"
    if "connection refused" in text or "no such host" in text or "timeout" in text:
        return f"the registry {ref.registry} could not be reached"
    if "http response to https client" in text:
        return f"the registry {ref.registry} speaks plain HTTP and is not configured as such"
    return f"fetching {ref} failed"


class Skopeo:
    def __init__(
        self, path: str, policy: Path, insecure: list[str], timeout: float, max_bytes: int
    ):
        self.path = path
        self.policy = policy
        self.insecure = set(insecure)
        self.timeout = timeout
        self.max_bytes = max_bytes

    def _tls(self, ref: ImageRef, flag: str) -> list[str]:
        return [f"{flag}=false"] if ref.registry in self.insecure else []

    async def _run(self, args: list[str], auth: RegistryAuth | None, ref: ImageRef) -> str:
        fds: tuple[int, ...] = ()
        argv = [self.path, "--policy", str(self.policy), *args]
        if auth is not None:
            fd = os.memfd_create("berth-registry-auth", 0)
            token = base64.b64encode(f"{auth.username}:{auth.password}".encode()).decode()
            os.write(fd, json.dumps({"auths": {ref.registry: {"auth": token}}}).encode())
            os.lseek(fd, 0, os.SEEK_SET)
            fds = (fd,)
            argv[4:4] = ["--authfile", f"/proc/self/fd/{fd}"]  # after the subcommand
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                pass_fds=fds,
                env={"PATH": "/usr/bin:/bin", "HOME": "/nonexistent", "LANG": "C.UTF-8"},
            )
        finally:
            for fd in fds:
                os.close(fd)
        try:
            out, err = await asyncio.wait_for(proc.communicate(), self.timeout)
        except TimeoutError:
            proc.kill()
            await proc.wait()
            raise ImageFetchFailed(f"fetching {ref} timed out after {int(self.timeout)}s") from None
        if proc.returncode != 0:
            text = err.decode(errors="replace")
            logger.warning("skopeo failed for {}: {}", ref, text[-500:])  # the platform's log
            raise ImageFetchFailed(_explain(text, ref))
        return out.decode()

    async def resolve(self, ref: ImageRef, auth: RegistryAuth | None) -> Resolved:
        """The digest the reference names now, and the image's compressed size."""
        args = ["inspect", *self._tls(ref, "--tls-verify")]
        out = await self._run([*args, f"docker://{ref.wanted}"], auth, ref)
        try:
            info = json.loads(out)
            digest = info["Digest"]
            size = sum(int(layer.get("Size") or 0) for layer in info.get("LayersData") or [])
        except (ValueError, KeyError, TypeError) as exc:
            raise ImageFetchFailed(f"the registry's answer for {ref} is not an image") from exc
        if not DIGEST_RE.match(digest or ""):
            raise ImageFetchFailed(f"{ref} has no sha256 digest")
        if ref.digest and digest != ref.digest:
            raise ImageFetchFailed(f"the registry answered {digest} where {ref.digest} was asked")
        if size > self.max_bytes:
            raise ImageFetchFailed(
                f"{ref} is {size // 2**20} MiB compressed; this node takes images up to "
                f"{self.max_bytes // 2**20} MiB"
            )
        return Resolved(digest, size)

    async def fetch(
        self,
        ref: ImageRef,
        digest: str,
        layout: Path,
        blobs: Path | None,
        auth: RegistryAuth | None,
    ) -> None:
        """Copy exactly `digest` into an OCI layout whose blobs live in the node's store (or,
        blobs None, in the layout itself: a base image a build reads)."""
        shared = ["--dest-shared-blob-dir", str(blobs)] if blobs is not None else []
        args = [
            "copy",
            "--quiet",
            *self._tls(ref, "--src-tls-verify"),
            *shared,
            f"docker://{ref.pinned(digest)}",
            f"oci:{layout}:image",
        ]
        await self._run(args, auth, ref)


def policy_file(directory: Path) -> Path:
    """skopeo's trust policy: digests are what we check (no signature policy yet)."""
    path = directory / "containers-policy.json"
    path.write_text(json.dumps({"default": [{"type": "insecureAcceptAnything"}]}))
    return path
