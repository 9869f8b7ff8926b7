"""Apps: creating them from a template, reading and changing them, owner isolation."""

import uuid
from datetime import timedelta
from urllib.parse import urlsplit

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from berth_common.errors import Conflict, NotFound, Unprocessable
from berth_common.pagination import PageParams
from berth_deploy.apps import schemas
from berth_deploy.apps.dao import AppDAO
from berth_deploy.apps.schemas import (
    AppCreate,
    AppDetail,
    AppUpdate,
    Limits,
    ReleaseRef,
)
from berth_deploy.config import DeploySettings
from berth_deploy.containers.service import apply_container_fields, is_container
from berth_deploy.enums import AppStatus, ProcessType
from berth_deploy.env.service import EnvCipher, set_vars
from berth_deploy.instances.dao import InstanceDAO
from berth_deploy.models import App, Release, Template
from berth_deploy.operations.lifecycle import LIVE_INSTANCE
from berth_deploy.plans import AppQuota, PlanCatalog
from berth_deploy.releases.dao import ReleaseDAO
from berth_deploy.sandbox.cgroups import usage
from berth_deploy.sandbox.git import normalise_repo_url, resolve_public
from berth_deploy.templates.dao import TemplateDAO


class SlugTaken(Conflict):
    code = "slug_taken"


class AppQuotaExceeded(Conflict):
    code = "app_quota_exceeded"


class SlugHeld(Conflict):
    """The slug of an app deleted recently stays its owner's for DEPLOY_SLUG_HOLD_DAYS, so
    nobody else answers at a host name people still link to."""

    code = "slug_held"


def app_url(settings: DeploySettings, slug: str, process_type: str) -> str | None:
    if process_type != ProcessType.WEB:
        return None
    public = urlsplit(settings.public_url)
    port = f":{public.port}" if public.port else ""
    return f"{public.scheme or 'http'}://{slug}.{settings.apps_domain}{port}"


async def _check_repo(
    settings: DeploySettings, template: Template, repo_url: str | None
) -> str | None:
    if not template.needs_repo:
        if repo_url:
            raise Unprocessable(
                f"The {template.key} template installs from its registry: no repository",
                details={"field": "repo_url"},
            )
        return None
    if not repo_url:
        return None  # a push-only app: its code comes from `git push` to its repository on Berth
    url = normalise_repo_url(repo_url, local_root=settings.local_repos_dir)
    await resolve_public(url, settings.blocked_networks, required=False)
    return url


async def _check_quota(dao: AppDAO, owner_id: uuid.UUID, quota: AppQuota) -> None:
    """Holds the owner's lock until the transaction ends, so two creates cannot both pass."""
    await dao.lock_owner(owner_id)
    count = await dao.count_on_plan(owner_id, quota.plan_key)
    if count >= quota.max_apps:
        raise AppQuotaExceeded(
            f"The {quota.plan_key} plan allows {quota.max_apps} apps per person and you have "
            f"{count}: delete one, or ask support for more",
            details={
                "plan": quota.plan_key,
                "limit": quota.max_apps,
                "apps": count,
                "limit_source": quota.source,
            },
        )


async def create_app(
    session: AsyncSession,
    settings: DeploySettings,
    cipher: EnvCipher,
    plans: PlanCatalog,
    owner_id: uuid.UUID,
    data: AppCreate,
) -> App:
    """A new app of an active template, within the owner's quota, under a free name, with
    its env vars stored (encrypted); it runs nothing until it is deployed."""
    template = await TemplateDAO(session).get(data.template)
    if template is None or not template.is_active:
        raise Unprocessable(f"Unknown template {data.template!r}", details={"field": "template"})
    repo_url = await _check_repo(settings, template, data.repo_url)
    names = [v.name for v in data.env]
    if len(names) != len(set(names)):
        raise Unprocessable("An env var is given twice", details={"field": "env"})
    quota = await plans.app_quota(template.plan_key)  # before any lock: it may ask billing
    dao = AppDAO(session)
    await _check_quota(dao, owner_id, quota)
    await _check_slug_free(dao, settings, data.slug, owner_id)
    app = await _insert_app(session, dao, owner_id, template, repo_url, data)
    _container_fields(app, template, settings, cipher, data)
    await session.flush()
    if data.env:
        await set_vars(
            session, cipher, settings, app.id, [(v.name, v.value, v.secret) for v in data.env]
        )
    await session.refresh(app)
    return app


def _container_fields(
    app: App, template: Template, settings: DeploySettings, cipher: EnvCipher | None, data
) -> None:
    if is_container(template.key) and data.build_command:
        raise Unprocessable(
            "A container app is built from its image: no build command",
            details={"field": "build_command"},
        )
    password = data.registry_password
    if password and cipher is None:  # pragma: no cover - every caller passes the cipher
        raise RuntimeError("the registry password needs the env cipher")
    apply_container_fields(
        app,
        template,
        image=data.image,
        container_port=data.container_port,
        registry_username=data.registry_username,
        registry_password=password,
        allowed=settings.allowed_registries,
        cipher=cipher,  # type: ignore[arg-type]
    )


async def _check_slug_free(
    dao: AppDAO, settings: DeploySettings, slug: str, owner_id: uuid.UUID
) -> None:
    if await dao.slug_in_use(slug):
        raise SlugTaken(f"The name {slug!r} is taken")
    hold = timedelta(days=settings.slug_hold_days)
    if free_at := await dao.slug_held(slug, hold, owner_id):
        raise SlugHeld(
            f"The name {slug!r} belonged to an app deleted recently; it is held until "
            f"{free_at:%Y-%m-%d %H:%M} UTC",
            details={"available_after": free_at.isoformat()},
        )


async def _insert_app(
    session: AsyncSession,
    dao: AppDAO,
    owner_id: uuid.UUID,
    template: Template,
    repo_url: str | None,
    data: AppCreate,
) -> App:
    """The row; a name taken meanwhile by a concurrent create is SlugTaken, not a 500."""
    try:
        async with session.begin_nested():
            return await dao.create(
                owner_id=owner_id,
                slug=data.slug,
                name=data.name or data.slug,
                template_key=template.key,
                repo_url=repo_url,
                branch=data.branch,
                build_command=data.build_command,
                run_command=data.run_command,
                memory_mb=data.limits.memory_mb or template.default_memory_mb,
                cpu_millis=data.limits.cpu_millis or template.default_cpu_millis,
                pids_max=data.limits.pids_max or template.default_pids_max,
                status=AppStatus.CREATED,
            )
    except IntegrityError as exc:
        raise SlugTaken(f"The name {data.slug!r} is taken") from exc


async def get_app(session: AsyncSession, app_id: uuid.UUID, owner_id: uuid.UUID | None) -> App:
    """The app, to its owner (owner_id) or to staff (None); 404 for anyone else."""
    app = await AppDAO(session).visible(app_id, owner_id)
    if app is None:
        raise NotFound("App not found")
    return app


async def update_app(
    session: AsyncSession,
    settings: DeploySettings,
    app: App,
    data: AppUpdate,
    cipher: EnvCipher | None = None,
) -> App:
    if app.status in (AppStatus.DELETING, AppStatus.DELETED):
        raise Conflict("The app is being deleted", code="illegal_transition")
    template = await TemplateDAO(session).get_or_404(app.template_key)
    container_keys = {"image", "container_port", "registry_username", "registry_password"}
    fields = data.model_dump(exclude_unset=True, exclude={"limits", *container_keys})
    _container_fields(app, template, settings, cipher, data)
    if "repo_url" in fields:
        fields["repo_url"] = await _check_repo(settings, template, fields["repo_url"])
    for key in (
        "name",
        "branch",
        "auto_deploy",
        "allow_force_push",
        "previews_enabled",
        "preview_idle_days",
    ):
        if key in fields and fields[key] is None:
            raise Unprocessable(f"{key} cannot be empty", details={"field": key})
    if app.parent_app_id is not None and fields.get("branch", app.branch) != app.branch:
        raise Unprocessable(
            "A preview builds its own branch: preview the other branch instead",
            details={"field": "branch"},
        )
    if fields.get("poll_interval_seconds") and not fields.get("repo_url", app.repo_url):
        raise Unprocessable(
            "Only an app deployed from a repository URL can poll it",
            details={"field": "poll_interval_seconds"},
        )
    if data.limits is not None:
        fields.update(data.limits.model_dump(exclude_none=True))
    app = await AppDAO(session).update(app, **fields)
    await session.refresh(app)  # updated_at is set by the database
    return app


async def list_apps(
    session: AsyncSession,
    params: PageParams,
    *,
    owner_id: uuid.UUID | None,
    status: str | None = None,
    template: str | None = None,
    q: str | None = None,
) -> tuple[list[App], int]:
    return await AppDAO(session).search(
        params, owner_id=owner_id, status=status, template=template, q=q
    )


async def _releases(session: AsyncSession, ids: set[uuid.UUID]) -> dict[uuid.UUID, Release]:
    if not ids:
        return {}
    return {r.id: r for r in await ReleaseDAO(session).by_ids(ids)}


def _out(settings: DeploySettings, app: App, process_type: str, release: Release | None) -> dict:
    return {
        "id": app.id,
        "owner_id": app.owner_id,
        "slug": app.slug,
        "name": app.name,
        "template": app.template_key,
        "repo_url": app.repo_url,
        "branch": app.branch,
        "build_command": app.build_command,
        "run_command": app.run_command,
        "limits": Limits(memory_mb=app.memory_mb, cpu_millis=app.cpu_millis, pids_max=app.pids_max),
        "status": app.status,
        "status_reason": app.status_reason,
        "suspended_by": app.suspended_by,
        "url": app_url(settings, app.slug, process_type),
        "current_release": ReleaseRef(
            id=release.id,
            number=release.number,
            commit_sha=release.commit_sha,
            image_digest=release.image_digest,
        )
        if release
        else None,
        "active_operation_id": app.active_operation_id,
        "parent_app_id": app.parent_app_id,
        "preview_branch": app.preview_branch,
        "auto_deploy": app.auto_deploy,
        "allow_force_push": app.allow_force_push,
        "poll_interval_seconds": app.poll_interval_seconds,
        "polled_at": app.polled_at,
        "poll_error": app.poll_error,
        "previews_enabled": app.previews_enabled,
        "preview_idle_days": app.preview_idle_days,
        "webhook_secret_set_at": app.webhook_secret_set_at,
        "image": app.image,
        "container_port": app.container_port,
        "registry_username": app.registry_username,
        "registry_password_set": app.registry_password_encrypted is not None,
        "created_at": app.created_at,
        "updated_at": app.updated_at,
        "status_changed_at": app.status_changed_at,
    }


async def app_outs(
    session: AsyncSession, settings: DeploySettings, apps: list[App]
) -> list[schemas.App]:
    kinds = await TemplateDAO(session).process_types()
    releases = await _releases(
        session, {a.current_release_id for a in apps if a.current_release_id}
    )
    return [
        schemas.App(
            **_out(
                settings,
                a,
                kinds.get(a.template_key, ProcessType.WEB),
                releases.get(a.current_release_id),
            )
        )
        for a in apps
    ]


async def app_detail(session: AsyncSession, settings: DeploySettings, app: App) -> AppDetail:
    kinds = await TemplateDAO(session).process_types()
    release = await session.get(Release, app.current_release_id) if app.current_release_id else None
    instances = await InstanceDAO(session).recent(app.id)
    return AppDetail(
        **_out(settings, app, kinds.get(app.template_key, ProcessType.WEB), release),
        instances=[_with_usage(settings, schemas.Instance.model_validate(i)) for i in instances],
    )


def _with_usage(settings: DeploySettings, instance: schemas.Instance) -> schemas.Instance:
    """A live instance on this node: what its cgroup uses now."""
    if instance.status not in LIVE_INSTANCE or instance.node != settings.node_name:
        return instance
    memory, count = usage(settings.cgroup_root, settings.cgroup_parent, f"i-{instance.id}")
    return instance.model_copy(update={"memory_bytes": memory, "processes": count})
