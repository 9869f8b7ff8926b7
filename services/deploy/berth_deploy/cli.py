"""Operator commands of the deploy service on a node.

    python -m berth_deploy.cli drain [--grace SECONDS]

drain: stop every app instance of this node (route removed, SIGTERM, grace, SIGKILL), record
it stopped ("node drained", billing hears it) and the app stopped. Apps outlive the deploy
processes by design, so taking a node out of service (or ending a test run's platform) ends
them explicitly. Run it with the supervisor stopped, or it restarts what crashed meanwhile.
"""

import argparse
import asyncio
import uuid

from loguru import logger
from sqlalchemy.ext.asyncio import AsyncSession

from berth_common.logging import configure_logging
from berth_common.worker import WorkerRuntime
from berth_deploy import events
from berth_deploy.config import get_settings
from berth_deploy.enums import AppStatus, InstanceStatus
from berth_deploy.instances import service as instances
from berth_deploy.instances.dao import InstanceDAO
from berth_deploy.instances.service import InstanceRef
from berth_deploy.models import SCHEMA, Base
from berth_deploy.node import build_node_context
from berth_deploy.operations import service as operations

DRAINED = "node drained"


async def node_instances(
    session: AsyncSession, *, node: str
) -> list[tuple[InstanceRef, uuid.UUID, str]]:
    found = await InstanceDAO(session).live_on_node_with_slugs(node)
    return [(InstanceRef.of(i), i.app_id, slug) for i, slug in found]


async def drain(grace: float) -> int:
    settings = get_settings()
    worker = WorkerRuntime(settings, SCHEMA, Base.metadata)
    ctx = build_node_context(settings, worker.in_transaction)
    found = await ctx.tx(node_instances, node=settings.node_name)
    apps = set()
    for instance, app_id, slug in found:
        await ctx.routes.remove(slug, instance.id)
        if instance.handle is not None:
            await ctx.driver.stop(instance.handle, grace)
        ctx.driver.forget(instance.name)
        await ctx.tx(
            instances.instance_ended,
            app_id=app_id,
            instance_id=instance.id,
            status=InstanceStatus.STOPPED,
            reason=DRAINED,
            event_key=events.STOPPED,
        )
        apps.add(app_id)
    for app_id in apps:
        await ctx.tx(
            operations.move_app,
            app_id=app_id,
            status=AppStatus.STOPPING,
            when=(AppStatus.RUNNING, AppStatus.FAILED),
        )
        await ctx.tx(
            operations.move_app, app_id=app_id, status=AppStatus.STOPPED, when=(AppStatus.STOPPING,)
        )
    logger.info("drained {} instance(s) of {} app(s)", len(found), len(apps))
    if worker._relay is not None:
        await worker._relay.publisher.close()
    await worker.db.dispose()
    return len(found)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m berth_deploy.cli", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    drain_cmd = commands.add_parser("drain", help="stop every app instance of this node")
    drain_cmd.add_argument("--grace", type=float, default=None, help="seconds before SIGKILL")
    args = parser.parse_args()
    settings = get_settings()
    configure_logging("deploy-cli", settings.log_level, settings.log_json)
    if args.command == "drain":
        grace = args.grace if args.grace is not None else settings.stop_grace_seconds
        asyncio.run(drain(grace))


if __name__ == "__main__":
    main()
