"""A container release: resolve the image to a digest, fetch exactly that digest into the
node's image store, unpack it in the app's sandbox, and record what it runs.

A rollback or restart runs the release's unpacked root filesystem, made from the digest
recorded in the release: nothing is resolved again.
"""

import asyncio
import hashlib
import json
import shutil
import uuid
from pathlib import Path

from berth_deploy.containers.service import registry_auth
from berth_deploy.operations.executor import Job, StepFailed
from berth_deploy.releases import service as releases
from berth_deploy.sandbox.cgroups import Limits
from berth_deploy.sandbox.driver import ProcessSpec
from berth_deploy.sandbox.images import (
    ImageFetchFailed,
    RegistryNotAllowed,
    Skopeo,
    check_allowed,
    parse_image,
    policy_file,
)
from berth_deploy.sandbox.layout import AppPaths
from berth_deploy.sandbox.oci_runtime import ContainerRun, ImageNotRunnable, run_record

UNPACKER = Path(__file__).parent.parent / "sandbox" / "oci_unpack.py"
UNPACK_ENV = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}


def _blob(blobs: Path, digest: str) -> bytes:
    """A small JSON blob of the store, checked against its digest."""
    algo, _, value = digest.partition(":")
    if algo != "sha256" or len(value) != 64:
        raise StepFailed(f"unsupported digest {digest[:80]}")
    data = (blobs / algo / value).read_bytes()
    if "sha256:" + hashlib.sha256(data).hexdigest() != digest:
        raise StepFailed(f"the image store's copy of {digest} is corrupt: deploy again")
    return data


def image_config(layout: Path, blobs: Path) -> dict:
    index = json.loads((layout / "index.json").read_text())
    manifest = json.loads(_blob(blobs, index["manifests"][0]["digest"]))
    return json.loads(_blob(blobs, manifest["config"]["digest"]))


def skopeo_for(job: Job) -> Skopeo:
    settings = job.ctx.settings
    store = settings.data_dir / "images"
    store.mkdir(parents=True, exist_ok=True)
    return Skopeo(
        settings.skopeo_path,
        policy_file(store),
        settings.insecure_registries,
        settings.image_pull_timeout_seconds,
        settings.image_max_bytes,
    )


async def pull_image(job: Job, release_id: uuid.UUID, log: Path) -> str:
    """Resolve, fetch, unpack; returns the digest the release runs."""
    settings = job.ctx.settings
    ref = parse_image(job.app["image"] or "")
    try:
        check_allowed(ref, settings.allowed_registries)
    except RegistryNotAllowed as exc:
        raise StepFailed(exc.message) from exc
    auth = await job.tx(registry_auth, cipher=job.ctx.cipher, app_id=job.app_id)
    skopeo = skopeo_for(job)
    job.note(f"resolving {ref}", log)
    try:
        resolved = await skopeo.resolve(ref, auth)
        job.checkpoint()
        job.note(f"{ref} is {resolved.digest} ({resolved.size // 1024} KiB)", log)
        await job.tx(releases.release_image, release_id=release_id, digest=resolved.digest)
        layout = job.paths.image_layout(release_id)
        await asyncio.to_thread(shutil.rmtree, layout, True)
        layout.parent.mkdir(parents=True, exist_ok=True)
        layout.parent.chmod(0o711)
        settings.image_blobs_dir.mkdir(parents=True, exist_ok=True)
        await skopeo.fetch(ref, resolved.digest, layout, settings.image_blobs_dir, auth)
    except ImageFetchFailed as exc:
        raise StepFailed(str(exc)) from exc
    job.checkpoint()
    try:
        config = await asyncio.to_thread(image_config, layout, settings.image_blobs_dir)
        record = run_record(config, job.app["container_port"], job.app["run_command"])
    except ImageNotRunnable as exc:
        raise StepFailed(exc.message) from exc
    except (OSError, ValueError, KeyError, TypeError, IndexError) as exc:
        raise StepFailed(f"the image's manifest or config is not readable: {exc}") from exc
    job.paths.image_run(release_id).write_text(json.dumps(record))
    dest = job.paths.fresh_release_dir(release_id)
    dest.mkdir(parents=True)
    await asyncio.to_thread(job.paths.own_release, release_id)
    blobs = settings.image_blobs_dir
    await unpack(job, release_id, f"{layout} {blobs}", log, (layout, blobs))
    return resolved.digest


async def unpack(
    job: Job, release_id: uuid.UUID, source: str, log: Path, read_only: tuple[Path, ...] = ()
) -> None:
    """oci_unpack.py in the app's sandbox, as the app's uid: the layers are the tenant's.
    source: "<layout> <blob dir>" as the sandbox sees them."""
    settings = job.ctx.settings
    spec = ProcessSpec(
        name=f"u-{job.claim.op_id}",
        command=f"/usr/bin/python3 -I -S /opt/berth/bin/{UNPACKER.name} {source} /app/rootfs",
        mounts=job.paths.mounts(release_id, tools=(UNPACKER,), read_only=read_only),
        env=UNPACK_ENV,
        log_path=log,
        uid=job.paths.uid,
        limits=Limits(settings.build_memory_mb, 2000, settings.build_pids_max),
    )
    proc = await job.ctx.driver.run(spec)
    try:
        code = await job.watch(proc, settings.build_timeout_seconds, "unpacking the image")
    finally:
        job.ctx.driver.forget(spec.name)
    if code != 0:
        raise StepFailed("the image could not be unpacked (see the build log)")


def container_run(paths: AppPaths, release_id: uuid.UUID) -> ContainerRun:
    """What a container release runs, as pull_image recorded it."""
    try:
        data = json.loads(paths.image_run(release_id).read_text())
    except (OSError, ValueError) as exc:
        raise StepFailed("the release's image is gone from this node: deploy again") from exc
    return ContainerRun.from_json(data, paths.rootfs(release_id), paths.data)
