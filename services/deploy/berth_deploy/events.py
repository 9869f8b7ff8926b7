"""Events deploy publishes (through the outbox, in the transaction of the state change they
report) for billing, monitoring and others. Consumers rely on every key below; keys are only
ever added.

An instance is one running release process of an app; billing charges the interval between
its `started` and its `stopped` / `suspended` / `deleted`; monitoring watches it from
`started` on (a web app by its health check through Traefik at `hostname`, a worker by the
liveness endpoint).

- `deploy.instance.started`: instance_id, app_id, app_slug, app_name, owner_id, plan_key,
  started_at, release_id, process_type ("web" | "worker"), hostname (`<slug>.<APPS_DOMAIN>`,
  null for workers), health ({type: "http" | "process", path, method, timeout_seconds, json,
  expect_json}; path, method and json are null for a process check).
- `deploy.instance.stopped`: instance_id, app_id, owner_id, plan_key, stopped_at, reason:
  "stopped by user" / "stopped by admin" (the owner or an admin stopped the app),
  "replaced by release #N" (a deploy, rollback or restart put a new instance in its place),
  "crash_loop" (the supervisor gave up on it: the app is failed, it is down), "node drained"
  (an operator took the node out of service). An instance that never went live (no
  `started`) has no end event either.
- `deploy.instance.suspended`: the same keys; the app is suspended (reason: the suspension's
  reason, e.g. billing's), not down.
- `deploy.instance.deleted`: the same keys without reason; the app is gone.
- `deploy.operation.started`: operation_id, app_id, app_slug, owner_id, kind (deploy,
  rollback, start, restart, resume: the operations that (re)start processes), origin (user,
  billing, admin), release_id (null for a deploy until it has built), started_at. Published
  once per operation, when a worker first takes it.
- `deploy.operation.finished`: operation_id, app_id, app_slug, owner_id, kind, origin,
  outcome ("succeeded": the new instance passed its health check and serves; "failed",
  "cancelled", "superseded"), reason (null on success), finished_at. Exactly one follows
  each `deploy.operation.started`.
"""

from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from berth_common.outbox import publish_event
from berth_deploy.enums import HealthCheckType, OperationStatus, ProcessType
from berth_deploy.models import App, Instance, Operation, Template
from berth_deploy.sandbox.health import HealthCheck

STARTED = "deploy.instance.started"
STOPPED = "deploy.instance.stopped"
SUSPENDED = "deploy.instance.suspended"
DELETED = "deploy.instance.deleted"
OPERATION_STARTED = "deploy.operation.started"
OPERATION_FINISHED = "deploy.operation.finished"


def _iso(moment: datetime | None) -> str:
    return (moment or datetime.now(UTC)).astimezone(UTC).isoformat()


def health_of(template: Template | None) -> dict[str, Any] | None:
    """The template's health check as a watcher needs it (None without a template)."""
    if template is None:
        return None
    check = HealthCheck.from_template(template.health or {})
    http = check.type == HealthCheckType.HTTP
    return {
        "type": check.type,
        "path": check.path if http else None,
        "method": check.method if http else None,
        "json": check.json_body if http else None,
        "expect_json": check.expect_json,
        "timeout_seconds": check.timeout_seconds,
    }


async def instance_started(
    session: AsyncSession, app: App, instance: Instance, *, apps_domain: str
) -> None:
    template = await session.get(Template, app.template_key)
    process_type = template.process_type if template else ProcessType.WEB
    web = process_type == ProcessType.WEB
    await publish_event(
        session,
        STARTED,
        {
            "instance_id": str(instance.id),
            "app_id": str(app.id),
            "app_slug": app.slug,
            "app_name": app.name,
            "owner_id": str(app.owner_id),
            "plan_key": instance.plan_key,
            "started_at": _iso(instance.started_at),
            "release_id": str(instance.release_id),
            "process_type": str(process_type),
            "hostname": f"{app.slug}.{apps_domain}" if web else None,
            "health": health_of(template),
        },
    )


async def instance_ended(
    session: AsyncSession, key: str, app: App, instance: Instance, reason: str
) -> None:
    """stopped / suspended / deleted: the end of the instance's billed interval."""
    payload: dict[str, Any] = {
        "instance_id": str(instance.id),
        "app_id": str(app.id),
        "owner_id": str(app.owner_id),
        "plan_key": instance.plan_key,
        "stopped_at": _iso(instance.stopped_at),
    }
    if key != DELETED:
        payload["reason"] = reason
    await publish_event(session, key, payload)


def _operation(app: App, op: Operation) -> dict[str, Any]:
    return {
        "operation_id": str(op.id),
        "app_id": str(app.id),
        "app_slug": app.slug,
        "owner_id": str(app.owner_id),
        "kind": op.kind,
        "origin": op.origin,
    }


async def operation_started(session: AsyncSession, app: App, op: Operation) -> None:
    payload = {
        **_operation(app, op),
        "release_id": str(op.release_id) if op.release_id else None,
        "started_at": _iso(op.started_at),
    }
    await publish_event(session, OPERATION_STARTED, payload)


async def operation_finished(session: AsyncSession, app: App, op: Operation) -> None:
    payload = {
        **_operation(app, op),
        "outcome": op.status,
        "reason": None if op.status == OperationStatus.SUCCEEDED else op.reason,
        "finished_at": _iso(op.finished_at),
    }
    await publish_event(session, OPERATION_FINISHED, payload)
