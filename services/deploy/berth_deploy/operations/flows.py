"""What each kind of operation does, step by step (run by executor.run_claim)."""

import asyncio
import shutil
import time
from pathlib import Path

import uv

from berth_deploy import events
from berth_deploy.containers.dockerfile import build_dockerfile
from berth_deploy.containers.flows import pull_image
from berth_deploy.containers.service import DOCKERFILE_TEMPLATES
from berth_deploy.enums import AppStatus, LogKind, OperationKind, OperationStep, SourceKind
from berth_deploy.env.service import plain_env
from berth_deploy.instances import service as instances
from berth_deploy.operations import leases
from berth_deploy.operations import service as operations
from berth_deploy.operations.executor import FlowFn, Job, StepFailed
from berth_deploy.operations.rollout import rollout, stop_instances
from berth_deploy.releases import service as releases
from berth_deploy.sandbox import git
from berth_deploy.sandbox.cgroups import Limits
from berth_deploy.sandbox.driver import ProcessSpec

BUILD_PATH = "/app/.venv/bin:/opt/berth/bin:/usr/local/bin:/usr/bin:/bin"


def build_env(job: Job, values: dict[str, str]) -> dict[str, str]:
    return {
        **job.template["env"],
        **values,
        "PATH": BUILD_PATH,
        "HOME": "/data",
        "LANG": "C.UTF-8",
        "UV_PYTHON_DOWNLOADS": "never",
        "UV_LINK_MODE": "copy",
        "UV_NO_PROGRESS": "1",
        # package downloads trust the node's CA store (/etc/ssl, bound in the sandbox), where
        # an operator adds a corporate or mirror CA, not only the tools' bundled roots
        "UV_NATIVE_TLS": "1",
        "NODE_OPTIONS": "--use-openssl-ca",
    }


def build_commands(job: Job, source: Path) -> list[str]:
    commands = []
    for step in job.template["build_steps"]:
        needs = step.get("if_exists")
        if needs and not (source / needs).exists() and not (source / needs).is_symlink():
            continue
        commands.append(step["run"])
    if job.app["build_command"]:
        commands.append(job.app["build_command"])
    return commands


async def wait_for_build_slot(job: Job) -> None:
    """At most DEPLOY_MAX_CONCURRENT_BUILDS builds at a time on a node; the others wait."""
    settings = job.ctx.settings
    waiting = False
    while not await job.tx(
        leases.take_build_slot,
        op_id=job.claim.op_id,
        owner=job.owner,
        node=settings.node_name,
        limit=settings.max_concurrent_builds,
    ):
        if not waiting:
            job.note(f"waiting for one of the node's {settings.max_concurrent_builds} build slots")
            waiting = True
        await job.sleep(1.0)


async def fetch_source(job: Job, release_id, log: Path) -> str | None:
    """Clone the app's repository into the release, inside the app's sandbox.

    The URL is checked again here (its host may resolve elsewhere than when the app was
    created); git's own output goes to a platform-side file and the build log gets a clean
    line, so a refused or unreachable host never shows as a raw connection error.
    """
    settings = job.ctx.settings
    dest = job.paths.fresh_release_dir(release_id)
    dest.mkdir(parents=True)
    await asyncio.to_thread(job.paths.own_release, release_id)
    if not job.template["needs_repo"]:
        return None
    url = await _source_url(job)
    branch, commit = job.app["branch"], job.claim.commit_sha
    where = f"commit {commit}" if commit else f"branch {branch}"
    job.note(f"cloning {_shown(job, url)} ({where})", log)
    local = git.local_path(url)
    output = job.ctx.driver.scratch_log(f"g-{job.claim.op_id}")
    output.unlink(missing_ok=True)  # an earlier attempt's
    spec = ProcessSpec(
        name=f"g-{job.claim.op_id}",
        command=git.clone_command(url, branch, commit),
        mounts=job.paths.mounts(release_id, read_only=(local,) if local else ()),
        env=git.git_env(url),
        log_path=output,
        uid=job.paths.uid,
        limits=Limits(settings.build_memory_mb, 2000, settings.build_pids_max),
    )
    try:
        proc = await job.ctx.driver.run(spec)
        code = await job.watch(proc, settings.git_timeout_seconds, "git clone")
        text = output.read_text(errors="replace")[-20_000:]
    finally:
        job.ctx.driver.forget(spec.name)
        output.unlink(missing_ok=True)
    sha = git.commit_of(text) if code == 0 else None
    if sha is None:
        raise StepFailed(f"git clone failed: {git.clone_failure(text)}")
    if commit is not None and sha != commit:
        raise StepFailed(f"git fetched {sha} where {commit} was asked for")
    job.note(f"commit {sha}", log)
    return sha


async def _source_url(job: Job) -> str:
    """Where the commit comes from: the app's repository URL (checked again: its host may
    resolve elsewhere now), or the app's own repository on Berth (what `git push` stored)."""
    settings = job.ctx.settings
    if job.claim.source == SourceKind.HOSTED:
        # a preview builds a branch pushed to its parent's repository
        path = git.hosted_repo(settings.hosted_repos_dir, job.app["parent_app_id"] or job.app_id)
        if not path.is_dir():
            raise StepFailed("nothing has been pushed to this app's repository on Berth")
        return f"file://{path}"
    try:
        url = git.normalise_repo_url(job.app["repo_url"] or "", local_root=settings.local_repos_dir)
        await git.resolve_public(url, job.ctx.driver.refused_networks(), required=True)
    except git.RepoNotAllowed as exc:
        raise StepFailed(f"the repository cannot be cloned: {exc.message}") from exc
    return url


def _shown(job: Job, url: str) -> str:
    """The source as the owner knows it (the platform's paths stay out of the build log)."""
    return "the app's repository on Berth" if job.claim.source == SourceKind.HOSTED else url


async def build(job: Job) -> object:
    settings = job.ctx.settings
    release_id, number = await job.tx(
        releases.begin_build, op_id=job.claim.op_id, app_id=job.app_id
    )
    job.ctx.logs.prepare(job.app_id, release_id)
    log = job.ctx.logs.path(job.app_id, release_id, LogKind.BUILD)
    job.log_path = log
    job.note(f"deploy of release #{number} (attempt {job.claim.attempt})", log)
    await wait_for_build_slot(job)
    started = time.monotonic()
    await asyncio.to_thread(job.paths.prepare)
    if job.app["image"]:  # a container: its image is the build
        await job.step(OperationStep.BUILD)
        digest = await pull_image(job, release_id, log)
        await job.tx(releases.release_built, release_id=release_id, commit_sha=None)
        job.note(f"image {digest} ready in {time.monotonic() - started:.1f}s", log)
        return release_id
    sha = await fetch_source(job, release_id, log)
    if sha:
        await job.tx(releases.release_commit, release_id=release_id, commit_sha=sha)
    source = job.paths.release(release_id)
    await job.step(OperationStep.BUILD)
    if job.template["key"] in DOCKERFILE_TEMPLATES:
        digest = await build_dockerfile(job, release_id, log)
        await job.tx(releases.release_built, release_id=release_id, commit_sha=sha)
        job.note(f"image {digest} built in {time.monotonic() - started:.1f}s", log)
        return release_id
    plain = await job.tx(plain_env, cipher=job.ctx.cipher, app_id=job.app_id)
    tools = (Path(uv.find_uv_bin()),)
    limits = Limits(settings.build_memory_mb, 2000, settings.build_pids_max)
    for index, command in enumerate(build_commands(job, source)):
        left = settings.build_timeout_seconds - (time.monotonic() - started)
        if left <= 0:
            raise StepFailed(f"the build timed out after {settings.build_timeout_seconds}s")
        job.note(f"$ {command}", log)
        spec = ProcessSpec(
            name=f"b-{job.claim.op_id}-{index}",
            command=command,
            mounts=job.paths.mounts(release_id, tools),
            env=build_env(job, plain.values),
            log_path=log,
            uid=job.paths.uid,
            limits=limits,
        )
        proc = await job.ctx.driver.run(spec)
        try:
            code = await job.watch(proc, left, "the build")
        finally:
            job.ctx.driver.forget(spec.name)
        if code != 0:
            raise StepFailed(f"build step failed with exit code {code}: {command[:200]}")
    await job.tx(releases.release_built, release_id=release_id, commit_sha=sha)
    job.note(f"build finished in {time.monotonic() - started:.1f}s", log)
    return release_id


async def prune(job: Job) -> None:
    pruned = await job.tx(
        releases.prune_releases, app_id=job.app_id, keep=job.ctx.settings.releases_kept
    )
    for release_id in pruned:
        await asyncio.to_thread(job.paths.remove_release, release_id)


async def deploy(job: Job) -> None:
    went_live = await job.tx(instances.made_live_by, op_id=job.claim.op_id)
    # a retry after an earlier attempt made its instance live builds nothing again: that
    # release serves (rebuilding would empty its directory under the running instance)
    release_id = went_live.release_id if went_live is not None else await build(job)
    await rollout(job, release_id)
    await prune(job)


async def activate(job: Job) -> None:
    """rollback, start, restart, resume: roll out an already built release."""
    assert job.claim.release_id is not None
    if not job.paths.release(job.claim.release_id).is_dir():
        raise StepFailed("the release's files are gone from this node: deploy again")
    await rollout(job, job.claim.release_id)


async def resume(job: Job) -> None:
    if job.app["status"] != AppStatus.SUSPENDED:
        return  # the suspension it lifts never completed: nothing was stopped
    await activate(job)


async def take_down(job: Job, final: str, event_key: str, reason: str) -> None:
    job.cancellable = False
    await job.step(OperationStep.STOP)
    await job.tx(
        operations.move_app,
        app_id=job.app_id,
        status=AppStatus.STOPPING,
        when=(
            AppStatus.RUNNING,
            AppStatus.FAILED,
            AppStatus.STARTING,
            AppStatus.BUILDING,
            AppStatus.QUEUED,
        ),
    )
    live = await job.tx(instances.instances, app_id=job.app_id)
    await stop_instances(job, live, event_key, reason)
    await job.ctx.routes.remove(job.app["slug"])
    if final != AppStatus.DELETING:
        suspended_by = job.claim.origin if final == AppStatus.SUSPENDED else None
        await job.tx(
            operations.app_settled,
            app_id=job.app_id,
            status=final,
            reason=reason if final == AppStatus.SUSPENDED else None,
            suspended_by=suspended_by,
        )


async def stop(job: Job) -> None:
    await take_down(job, AppStatus.STOPPED, events.STOPPED, f"stopped by {job.claim.origin}")


async def suspend(job: Job) -> None:
    reason = job.claim.reason or job.claim.origin
    await take_down(job, AppStatus.SUSPENDED, events.SUSPENDED, reason)


async def delete(job: Job) -> None:
    await take_down(job, AppStatus.DELETING, events.DELETED, "app deleted")
    await asyncio.to_thread(job.paths.remove_all)
    await asyncio.to_thread(shutil.rmtree, job.ctx.logs.root / str(job.app_id), True)
    # what was pushed to the app's repository on Berth goes with it
    hosted = git.hosted_repo(job.ctx.settings.hosted_repos_dir, job.app_id)
    await asyncio.to_thread(shutil.rmtree, hosted, True)
    await job.tx(operations.mark_deleted, app_id=job.app_id)


FLOWS: dict[OperationKind, FlowFn] = {
    OperationKind.DEPLOY: deploy,
    OperationKind.ROLLBACK: activate,
    OperationKind.START: activate,
    OperationKind.RESTART: activate,
    OperationKind.RESUME: resume,
    OperationKind.STOP: stop,
    OperationKind.SUSPEND: suspend,
    OperationKind.DELETE: delete,
}
