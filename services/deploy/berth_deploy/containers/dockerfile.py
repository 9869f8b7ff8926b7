"""A container built from the `Dockerfile` of the app's repository, on the node.

The repository is cloned in the sandbox as for any app. Then:
1. the Dockerfile's `FROM` images (read as root, never through a symlink) must be on an
   allowed registry; each is resolved to its digest and fetched by skopeo into a root-owned
   OCI layout, and the Dockerfile is rewritten to `FROM oci:<that layout>` (the build's
   network namespace cannot reach a registry on the node's loopback, and should not);
2. buildah builds it as the app's uid, started by the launcher in the app's network
   namespace and cgroups (`builder_argv`): rootless, in a user namespace of its own where the
   app's uid is root, every RUN step in crun (`--isolation oci`) sharing that network
   namespace (`--network host` is the launcher's namespace, never the host's), no pulls;
3. the image is pushed to an OCI layout in the release, unpacked in the sandbox like a
   pulled image, and its manifest digest recorded in the release.
"""

import asyncio
import hashlib
import json
import os
import re
import shutil
import stat
import uuid
from pathlib import Path

from berth_deploy.containers.flows import skopeo_for, unpack
from berth_deploy.operations.executor import Job, StepFailed
from berth_deploy.releases import service as releases
from berth_deploy.sandbox.cgroups import Limits
from berth_deploy.sandbox.driver import ProcessSpec
from berth_deploy.sandbox.images import (
    ImageFetchFailed,
    InvalidImage,
    RegistryNotAllowed,
    check_allowed,
    parse_image,
)
from berth_deploy.sandbox.oci_runtime import ImageNotRunnable, run_record

DOCKERFILE_MAX = 256 * 1024
FROM_RE = re.compile(
    r"^(\s*FROM\s+)((?:--platform=\S+\s+)?)(\S+)(\s+AS\s+(\S+))?\s*$", re.IGNORECASE
)
BUILT = ".berth-image"


def read_beneath(base: Path, relative: str, limit: int) -> bytes:
    """A regular file under `base` (trusted), no component of `relative` a symlink."""
    fd = os.open(base, os.O_RDONLY | os.O_DIRECTORY)
    try:
        parts = [p for p in relative.split("/") if p]
        for part in parts[:-1]:
            nxt = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
            os.close(fd)
            fd = nxt
        leaf = os.open(parts[-1], os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=fd)
    finally:
        os.close(fd)
    try:
        if not stat.S_ISREG(os.fstat(leaf).st_mode):
            raise OSError(f"{relative} is not a file")
        data = os.read(leaf, limit + 1)
    finally:
        os.close(leaf)
    if len(data) > limit:
        raise OSError(f"{relative} is too large")
    return data


def rewrite_froms(text: str, bases: dict[str, str]) -> str:
    """The Dockerfile with each external FROM image replaced by its fetched layout."""
    out = []
    for line in text.splitlines():
        match = FROM_RE.match(line)
        if match and match[3] in bases:
            line = f"{match[1]}{match[2]}oci:{bases[match[3]]}:image{match[4] or ''}"
        out.append(line)
    return "\n".join(out) + "\n"


def external_froms(text: str) -> list[str]:
    """The images the Dockerfile builds from (not `scratch`, not an earlier stage)."""
    stages: set[str] = set()
    images: list[str] = []
    for line in text.splitlines():
        if line.rstrip().endswith("\\") and line.lstrip().upper().startswith("FROM"):
            raise StepFailed("a FROM line continued over lines is not supported")
        match = FROM_RE.match(line)
        if not match:
            if re.match(r"^\s*FROM\b", line, re.IGNORECASE):
                raise StepFailed(f"cannot read this FROM line: {line.strip()[:120]}")
            continue
        name = match[3]
        if "$" in name:
            raise StepFailed("FROM with a build argument is not supported: name the image")
        if name.lower() != "scratch" and name not in stages and name not in images:
            images.append(name)
        if match[5]:
            stages.add(match[5])
    if not images and not stages:
        raise StepFailed("the Dockerfile has no FROM line")
    return images


async def fetch_bases(job: Job, images: list[str], work: Path, log: Path) -> dict[str, str]:
    settings = job.ctx.settings
    skopeo = skopeo_for(job)
    bases: dict[str, str] = {}
    for index, name in enumerate(images):
        try:
            ref = parse_image(name)
            check_allowed(ref, settings.allowed_registries)
        except (InvalidImage, RegistryNotAllowed) as exc:
            raise StepFailed(f"FROM {name[:200]}: {exc.message}") from exc
        try:
            resolved = await skopeo.resolve(ref, None)
            job.note(f"FROM {ref} is {resolved.digest}", log)
            layout = work / "bases" / str(index)
            layout.parent.mkdir(exist_ok=True)
            await skopeo.fetch(ref, resolved.digest, layout, None, None)
        except ImageFetchFailed as exc:
            raise StepFailed(str(exc)) from exc
        bases[name] = f"bases/{index}"  # relative: the builder runs in `work`, staged
    return bases


def _readable(root: Path) -> None:
    """The base layouts readable by the builder (the app's uid): root-owned, not writable."""
    for directory, _dirs, files in os.walk(root):
        os.chmod(directory, 0o755)  # noqa: S103 - read-only for the builder
        for name in files:
            os.chmod(os.path.join(directory, name), 0o644)


def build_script(
    crun: str, release: Path, build: Path, work: Path, buildah: str = "buildah"
) -> str:
    """The builder's shell script (its host paths are staged by the launcher)."""
    b = f"{buildah} --root {build}/storage --runroot {build}/run --storage-driver vfs"
    dockerfile = work / "Dockerfile"
    return (
        "set -e\n"
        f"cd {work}\n"
        f"mkdir -p {build}/home {build}/run {build}/tmp\n"  # noqa: S108 - the build's own
        f"rm -rf {release}/{BUILT}\n"
        f"{b} bud --isolation oci --runtime {crun} --cgroup-manager cgroupfs --network host "
        f"--pull=never --layers=false -f {dockerfile} -t berth-build {release}\n"
        f"{b} push --quiet berth-build oci:{release}/{BUILT}:image\n"
    )


def _blob(release: Path, digest: str) -> bytes:
    algo, _, value = digest.partition(":")
    if algo != "sha256" or len(value) != 64:
        raise StepFailed(f"unsupported digest {digest[:80]}")
    data = read_beneath(release, f"{BUILT}/blobs/sha256/{value}", 4 * 1024 * 1024)
    if "sha256:" + hashlib.sha256(data).hexdigest() != digest:
        raise StepFailed(f"the built image's {digest} does not match its digest")
    return data


def built_image(release: Path) -> tuple[str, dict]:
    index = json.loads(read_beneath(release, f"{BUILT}/index.json", 1024 * 1024))
    digest = index["manifests"][0]["digest"]
    manifest = json.loads(_blob(release, digest))
    return digest, json.loads(_blob(release, manifest["config"]["digest"]))


async def build_dockerfile(job: Job, release_id: uuid.UUID, log: Path) -> str:
    """Build the release's Dockerfile into its root filesystem; the built image's digest."""
    settings = job.ctx.settings
    release = job.paths.release(release_id)
    try:
        text = read_beneath(release, "Dockerfile", DOCKERFILE_MAX).decode("utf-8", "replace")
    except OSError as exc:
        raise StepFailed("the repository has no Dockerfile at its root") from exc
    work = job.paths.image_layout(release_id)
    await asyncio.to_thread(shutil.rmtree, work, True)
    work.mkdir(parents=True)
    work.parent.chmod(0o711)
    bases = await fetch_bases(job, external_froms(text), work, log)
    (work / "Dockerfile").write_text(rewrite_froms(text, bases))
    await asyncio.to_thread(_readable, work)
    build = job.paths.root / "releases" / f"{release_id}.build"
    await asyncio.to_thread(shutil.rmtree, build, True)
    build.mkdir()
    os.chown(build, job.paths.uid, job.paths.uid)
    build.chmod(0o700)
    crun = job.ctx.driver.crun  # type: ignore[attr-defined]
    if not shutil.which(settings.buildah_path):
        raise StepFailed("buildah is not installed on this node: no Dockerfile builds here")
    spec = ProcessSpec(
        name=f"d-{job.claim.op_id}",
        command="",
        # staged for the builder: the release (context, output), the Dockerfile and bases,
        # and its own storage (binds in the launcher's namespace are writable where the app's
        # uid owns the files)
        mounts=job.paths.mounts(release_id, read_only=(work, build)),
        env={
            "PATH": "/usr/bin:/bin",
            "LANG": "C.UTF-8",
            "HOME": f"{build}/home",
            "XDG_RUNTIME_DIR": f"{build}/run",
            "TMPDIR": f"{build}/tmp",  # noqa: S108 - the build's own directory
            "BUILDAH_ISOLATION": "oci",
        },
        log_path=log,
        uid=job.paths.uid,
        limits=Limits(settings.build_memory_mb, 2000, settings.build_pids_max),
        builder_argv=[
            "/bin/sh",
            "-c",
            build_script(crun, release, build, work, shutil.which(settings.buildah_path) or ""),
        ],
    )
    job.note("building the Dockerfile (buildah, rootless, in the app's sandbox)", log)
    proc = await job.ctx.driver.run(spec)
    try:
        code = await job.watch(proc, settings.build_timeout_seconds, "the Dockerfile build")
    finally:
        job.ctx.driver.forget(spec.name)
        await asyncio.to_thread(shutil.rmtree, build, True)
    if code != 0:
        raise StepFailed(f"the Dockerfile build failed with exit code {code}: see the build log")
    try:
        digest, config = await asyncio.to_thread(built_image, release)
        record = run_record(config, job.app["container_port"], job.app["run_command"])
    except ImageNotRunnable as exc:
        raise StepFailed(exc.message) from exc
    except (OSError, ValueError, KeyError, TypeError, IndexError) as exc:
        raise StepFailed(f"the built image is not readable: {exc}") from exc
    await job.tx(releases.release_image, release_id=release_id, digest=digest)
    job.paths.image_run(release_id).write_text(json.dumps(record))
    await unpack(job, release_id, f"/app/{BUILT} /app/{BUILT}/blobs", log)
    return digest
