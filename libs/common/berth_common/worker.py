"""The Celery app factory with Berth's reliability defaults, and the async task wrapper.

Tasks take ids and JSON, run async service code on one event loop per worker process,
own their transaction (commit on success, outbox published after commit), and retry only
on transient failures with exponential backoff and jitter.
"""

import asyncio
import functools
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from celery import Celery, Task, signals
from kombu import Exchange, Queue, binding
from loguru import logger
from sqlalchemy.exc import InterfaceError, OperationalError

from berth_common.beat import install_threaded_beat
from berth_common.broker import QUORUM, filesystem_transport_options, make_publisher
from berth_common.config import ServiceSettings
from berth_common.context import request_id_var, task_id_var, user_id_var
from berth_common.db import Database
from berth_common.errors import TransientError
from berth_common.logging import configure_logging
from berth_common.messages import EVENT_TASK, EVENTS_EXCHANGE
from berth_common.outbox import OutboxRelay, claim_event

TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    TransientError,
    OperationalError,
    InterfaceError,
    ConnectionError,
    TimeoutError,
)

EventHandler = Callable[..., Awaitable[None]]


class WorkerRuntime:
    """Per worker process: one event loop, one engine, one publisher (made after fork)."""

    def __init__(self, settings: ServiceSettings, schema: str, metadata: Any):
        self.settings = settings
        self.schema = schema
        self.metadata = metadata
        self._loop: asyncio.AbstractEventLoop | None = None
        self._db: Database | None = None
        self._relay: OutboxRelay | None = None
        self.event_handlers: dict[str, EventHandler] = {}

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None or self._loop.is_closed():
            self._loop = asyncio.new_event_loop()
        return self._loop

    @property
    def db(self) -> Database:
        if self._db is None:
            self._db = Database(
                self.settings.database_url, self.schema, metadata=self.metadata, pool_size=4
            )
        return self._db

    @property
    def relay(self) -> OutboxRelay:
        if self._relay is None:
            publisher = make_publisher(
                self.settings.broker_url,
                self.settings.broker_filesystem_dir,
                (self.schema,),
                self.settings.task_queue_prefixes,
            )
            self._relay = OutboxRelay(self.db.sessionmaker, self.metadata, self.schema, publisher)
        return self._relay

    async def in_transaction(self, fn: Callable[..., Awaitable[Any]], **kwargs: Any) -> Any:
        async with self.db.sessionmaker() as session:
            try:
                result = await fn(session, **kwargs)
                await session.commit()  # edge: the task wrapper
            except BaseException:
                await session.rollback()
                raise
            pending = session.info.pop("outbox_pending", [])
        if pending:
            await self.relay.publish_now(pending)
        return result

    def run(self, fn: Callable[..., Awaitable[Any]], **kwargs: Any) -> Any:
        return self.loop.run_until_complete(self.in_transaction(fn, **kwargs))

    def reset(self) -> None:
        """After fork the parent's loop and connections must not be reused."""
        self._loop = None
        self._db = None
        self._relay = None


def create_celery(
    settings: ServiceSettings,
    *,
    queue: str,
    include: Iterable[str],
    consumes_events: Iterable[str] = (),
    beat_schedule: dict[str, Any] | None = None,
    extra_queues: Iterable[str] = (),
) -> Celery:
    """`extra_queues`: more task queues of the service (each on its own exchange, as the
    publisher declares them); a worker consumes those its `-Q` names."""
    amqp = settings.broker_is_amqp
    exchange = Exchange(queue, type="topic", durable=True)
    bindings = [binding(exchange, routing_key=queue)]
    events = Exchange(EVENTS_EXCHANGE, type="topic", durable=True)
    bindings += [binding(events, routing_key=key) for key in consumes_events]
    task_queue = Queue(
        queue, bindings=bindings, durable=True, queue_arguments=QUORUM if amqp else None
    )
    extras = [
        Queue(
            name,
            Exchange(name, type="topic", durable=True),
            routing_key=name,
            durable=True,
            queue_arguments=QUORUM if amqp else None,
        )
        for name in extra_queues
    ]
    app = Celery(f"berth_{queue}", broker=settings.broker_url, include=list(include))
    app.conf.update(
        task_queues=[task_queue, *extras],
        task_default_queue=queue,
        task_default_exchange=queue,
        task_default_exchange_type="topic",
        task_default_routing_key=queue,
        task_create_missing_queues=False,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_acks_on_failure_or_timeout=True,
        worker_prefetch_multiplier=1,
        task_serializer="json",
        accept_content=["json"],
        result_serializer="json",
        task_ignore_result=True,
        result_backend=None,
        task_soft_time_limit=120,
        task_time_limit=180,
        broker_connection_retry_on_startup=True,
        broker_connection_max_retries=None,
        worker_cancel_long_running_tasks_on_connection_loss=True,
        worker_hijack_root_logger=False,
        worker_send_task_events=True,
        task_send_sent_event=True,
        # remote control (inspect, ping, shutdown) and the event queues of monitors are named
        # after the service, so its broker user cannot reach another service's workers
        # (deploy/compose/rabbitmq/definitions.json)
        control_exchange=queue,
        event_queue_prefix=f"celeryev.{queue}",
        enable_utc=True,
        timezone="UTC",
        beat_schedule=beat_schedule or {},
    )
    if amqp:
        app.conf.broker_transport_options = {"confirm_publish": True}
        app.conf.task_default_queue_type = "quorum"
        app.conf.worker_detect_quorum_queues = True
    else:
        app.conf.broker_transport_options = filesystem_transport_options(
            settings.broker_filesystem_dir
        )
    _install_signals(settings)
    install_threaded_beat(app)
    return app


def _install_signals(settings: ServiceSettings) -> None:
    @signals.setup_logging.connect(weak=False)
    def _setup_logging(**_: Any) -> None:
        configure_logging(settings.service_name, settings.log_level, settings.log_json)

    @signals.task_prerun.connect(weak=False)
    def _bind_ids(task_id: str | None = None, task: Task | None = None, **_: Any) -> None:
        task_id_var.set(task_id)
        req = task.request if task is not None else None
        request_id_var.set(getattr(req, "berth_request_id", None) if req else None)
        user_id_var.set(getattr(req, "berth_user_id", None) if req else None)


def service_task(
    app: Celery,
    runtime: WorkerRuntime,
    name: str,
    *,
    autoretry_for: tuple[type[BaseException], ...] = TRANSIENT_ERRORS,
    max_retries: int = 8,
    retry_backoff_max: int = 300,
    soft_time_limit: int = 60,
    time_limit: int = 90,
    in_transaction: bool = True,
    **options: Any,
) -> Callable[[Callable[..., Awaitable[Any]]], Task]:
    """Register `async def fn(session, **kwargs)` as a Celery task named `name`.

    With `in_transaction=False` the task is `async def fn(**kwargs)` and opens its own short
    transactions (`runtime.in_transaction`), for work that must show progress while it runs
    (a lease and its heartbeat); acks, retries and limits are the same.
    """

    def decorator(fn: Callable[..., Awaitable[Any]]) -> Task:
        @app.task(
            name=name,
            bind=True,
            acks_late=True,
            reject_on_worker_lost=True,
            autoretry_for=autoretry_for,
            retry_backoff=2,
            retry_backoff_max=retry_backoff_max,
            retry_jitter=True,
            max_retries=max_retries,
            soft_time_limit=soft_time_limit,
            time_limit=time_limit,
            ignore_result=True,
            **options,
        )
        @functools.wraps(fn)
        def run(self: Task, **kwargs: Any) -> None:
            if in_transaction:
                runtime.run(fn, **kwargs)
            else:
                runtime.loop.run_until_complete(fn(**kwargs))

        return run

    return decorator


def on_event(runtime: WorkerRuntime, key: str) -> Callable[[EventHandler], EventHandler]:
    """Handle domain event `key` once per event id: `async def fn(session, payload, event)`."""

    def decorator(fn: EventHandler) -> EventHandler:
        runtime.event_handlers[key] = fn
        return fn

    return decorator


def register_event_task(app: Celery, runtime: WorkerRuntime) -> Task:
    async def handle(session: Any, event: dict[str, Any]) -> None:
        handler = runtime.event_handlers.get(event.get("key", ""))
        if handler is None:
            logger.warning("no handler for event {}", event.get("key"))
            return
        if not await claim_event(session, event["event_id"], event["key"]):
            logger.info("event {} already handled", event["event_id"])
            return
        await handler(session, event.get("payload", {}), event)

    return service_task(app, runtime, EVENT_TASK, max_retries=12)(handle)


def reset_runtime_after_fork(runtime: WorkerRuntime) -> None:
    @signals.worker_process_init.connect(weak=False)
    def _reset(**_: Any) -> None:
        runtime.reset()
