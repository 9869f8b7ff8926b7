"""Celery tasks of the deploy service: ids in, a service call, done.

`deploy.operations.run` runs an app's next queued operation under a lease. It is idempotent:
a redelivered message finds the operation running (or done) and leaves it alone; a worker
that died mid-step is dealt with by the supervisor's lease reaper.
"""

import os
import uuid
from datetime import timedelta

from loguru import logger
from sqlalchemy.ext.asyncio import AsyncSession

from berth_common.worker import on_event, service_task
from berth_deploy import suspension
from berth_deploy.names import (
    ACCOUNT_SUSPENDED,
    ACCOUNT_UNSUSPENDED,
    EXPIRE_PREVIEWS_TASK,
    POLL_TASK,
    PURGE_CONSOLE_TOKENS_TASK,
    RUN_OPERATION_TASK,
    VPS_RUN_TASK,
)
from berth_deploy.node import build_node_context
from berth_deploy.operations.executor import NodeContext, run_next, worker_identity
from berth_deploy.operations.flows import FLOWS
from berth_deploy.polling.service import poll_tick, tick_time_limit
from berth_deploy.previews.service import expire_previews
from berth_deploy.vps import executor as vps_executor
from berth_deploy.vps.console import service as console
from berth_deploy.vps.flows import FLOWS as VPS_FLOWS
from berth_deploy.vps.machine import machine_driver
from berth_deploy.worker import celery_app, settings, worker_runtime

_node: dict[int, NodeContext] = {}
_vps_node: dict[int, vps_executor.VpsNode] = {}


def node_context() -> NodeContext:
    """This worker process's node context (made after fork, with its own event loop and engine)."""
    pid = os.getpid()
    if pid not in _node:
        _node.clear()
        _node[pid] = build_node_context(settings, worker_runtime.in_transaction)
    return _node[pid]


@service_task(
    celery_app,
    worker_runtime,
    RUN_OPERATION_TASK,
    in_transaction=False,  # the lease and its heartbeat commit as the operation goes
    max_retries=10,
    retry_backoff_max=60,
    # well under RabbitMQ's 30-minute consumer_timeout (build + git + start budgets)
    soft_time_limit=settings.step_time_limit,
    time_limit=settings.step_time_limit + 60,
)
async def run_operation(app_id: str) -> None:
    owner = worker_identity(settings)
    if not await run_next(node_context(), uuid.UUID(app_id), owner, FLOWS):
        logger.info("app {}: nothing to run, or an operation holds it", app_id)


def vps_node() -> vps_executor.VpsNode:
    """This worker process's VPS context (its machine driver made at first use)."""
    pid = os.getpid()
    if pid not in _vps_node:
        _vps_node.clear()
        _vps_node[pid] = vps_executor.VpsNode(
            settings, worker_runtime.in_transaction, machine_driver
        )
    return _vps_node[pid]


@service_task(
    celery_app,
    worker_runtime,
    VPS_RUN_TASK,
    in_transaction=False,  # the lease and its heartbeat commit as the operation goes
    max_retries=10,
    retry_backoff_max=60,
    # an image build (debootstrap) and a first boot fit in it
    soft_time_limit=1620,
    time_limit=1680,
)
async def run_vps_operation(vps_id: str) -> None:
    owner = worker_identity(settings)
    if not await vps_executor.run_next(vps_node(), uuid.UUID(vps_id), owner, VPS_FLOWS):
        logger.info("vps {}: nothing to run, or an operation holds it", vps_id)


@service_task(celery_app, worker_runtime, EXPIRE_PREVIEWS_TASK, max_retries=3)
async def expire_idle_previews(session: AsyncSession) -> None:
    """Beat: previews idle past their app's preview_idle_days (or orphaned) are deleted; each
    deletion is an operation of its own, so a second run finds them deleting and skips them."""
    asked = await expire_previews(session)
    if asked:
        logger.info("asked for the deletion of {} idle previews", asked)


@service_task(celery_app, worker_runtime, PURGE_CONSOLE_TOKENS_TASK, max_retries=3)
async def purge_console_tokens(session: AsyncSession) -> None:
    """Beat: console tokens a day past their expiry are of no more use (idempotent: a second
    run finds none)."""
    purged = await console.purge_tokens(session, timedelta(days=1))
    if purged:
        logger.info("purged {} old console tokens", purged)


@service_task(
    celery_app,
    worker_runtime,
    POLL_TASK,
    in_transaction=False,  # each app's claim and result commit on their own
    max_retries=0,  # the next tick polls again
    soft_time_limit=tick_time_limit(settings),
    time_limit=tick_time_limit(settings) + 30,
)
async def poll_remotes() -> None:
    """Beat's tick: poll the apps whose interval has passed (polling/service.py)."""
    polled = await poll_tick(node_context(), worker_runtime.db.engine)
    if polled is None:
        logger.info("an earlier poll tick is still polling: this one skipped")
    elif polled:
        logger.info("polled {} app remotes", polled)


@on_event(worker_runtime, ACCOUNT_SUSPENDED)
async def on_account_suspended(session: AsyncSession, payload: dict, event: dict) -> None:
    await suspension.account_suspended(session, payload)


@on_event(worker_runtime, ACCOUNT_UNSUSPENDED)
async def on_account_unsuspended(session: AsyncSession, payload: dict, event: dict) -> None:
    await suspension.account_unsuspended(session, payload)
