"""Task facts from Celery events: `python -m berth_monitoring.queues.events` (Procfile
`monitoring-events`), one long-running process per installation.

Every service's workers send task and worker events (create_celery: worker_send_task_events,
task_send_sent_event) to the `celeryev` exchange. Celery's own `app.events.Receiver` consumes
them on an auto-deleted `celeryev.monitoring.<id>` queue; `celery.events.state.State` keeps
each task's name across its events. Counts are added up in memory per queue, task and minute
and flushed every QUEUE_EVENTS_FLUSH_SECONDS with an upsert that adds (two consumers never
count an event twice: each event reaches one queue). Worker heartbeats keep `queue_workers`
current; a worker coming online is a deploy marker. Events are not durable by Celery's design:
what happened while this process was down (or since its last flush, if it is killed) is not
counted; queue depth and age never depend on it (they come from RabbitMQ).
"""

import bisect
import signal
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from celery import Celery
from celery.events.state import State
from loguru import logger
from sqlalchemy.ext.asyncio import AsyncSession

from berth_common.logging import configure_logging
from berth_common.worker import WorkerRuntime
from berth_monitoring.queues.dao import DeployMarkerDAO, QueueWorkerDAO, TaskMinuteDAO
from berth_monitoring.queues.enums import TaskOutcome
from berth_monitoring.queues.rules import RUNTIME_BUCKETS

# a worker that has not sent a heartbeat (every 2 s) for this long is gone
SILENT_WORKER_SECONDS = 30
_OUTCOMES = {
    "task-sent": TaskOutcome.SENT,
    "task-received": TaskOutcome.RECEIVED,
    "task-started": TaskOutcome.STARTED,
    "task-succeeded": TaskOutcome.SUCCEEDED,
    "task-failed": TaskOutcome.FAILED,
    "task-retried": TaskOutcome.RETRIED,
}


def queue_of_worker(hostname: str) -> str:
    """Workers are named `<queue>@<host>` (Procfile; test runs add `-<number>` for uniqueness)."""
    name = hostname.split("@", 1)[0]
    base, _, suffix = name.rpartition("-")
    return base if base and suffix.isdigit() else name


@dataclass
class TaskCounts:
    counts: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    runtime_sum: float = 0.0
    runtime_max: float = 0.0
    buckets: list[int] = field(default_factory=lambda: [0] * (len(RUNTIME_BUCKETS) + 1))

    def add_runtime(self, seconds: float) -> None:
        self.runtime_sum += seconds
        self.runtime_max = max(self.runtime_max, seconds)
        self.buckets[bisect.bisect_left(RUNTIME_BUCKETS, seconds)] += 1


@dataclass
class WorkerSeen:
    queue: str
    online: bool
    software: str | None
    processed: int
    active: int
    at: datetime
    came_online: bool = False


class Aggregator:
    """What the events said since the last flush; the receiver thread adds, the flusher swaps."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.state = State(max_tasks_in_memory=20_000, max_workers_in_memory=1_000)
        self.tasks: dict[tuple[str, str, datetime], TaskCounts] = {}
        self.workers: dict[str, WorkerSeen] = {}
        self.markers: list[dict[str, Any]] = []

    def on_event(self, event: dict[str, Any]) -> None:
        with self.lock:
            try:
                self.state.event(event)
            except (KeyError, TypeError, ValueError) as exc:  # not a Celery event: skip it
                logger.warning("queue events: unreadable event skipped ({!r})", exc)
                return
            kind = event.get("type", "")
            if kind.startswith("worker-"):
                self._worker(kind, event)
            elif kind in _OUTCOMES:
                self._task(_OUTCOMES[kind], event)

    def _task(self, outcome: TaskOutcome, event: dict[str, Any]) -> None:
        task = self.state.tasks.get(event.get("uuid", ""))
        name = (task.name if task is not None else None) or event.get("name")
        if not name:
            return  # an event of a task whose earlier events this process never saw
        if outcome is TaskOutcome.SENT:
            queue = event.get("queue") or event.get("routing_key") or ""
        else:
            queue = queue_of_worker(event.get("hostname", ""))
        if not queue:
            return
        moment = datetime.fromtimestamp(event.get("timestamp") or time.time(), UTC)
        minute = moment.replace(second=0, microsecond=0)
        counts = self.tasks.setdefault((queue, name[:200], minute), TaskCounts())
        counts.counts[outcome] += 1
        if outcome is TaskOutcome.SUCCEEDED and isinstance(event.get("runtime"), int | float):
            counts.add_runtime(float(event["runtime"]))

    def _worker(self, kind: str, event: dict[str, Any]) -> None:
        hostname = event.get("hostname", "")
        if not hostname:
            return
        moment = datetime.fromtimestamp(event.get("timestamp") or time.time(), UTC)
        software = " ".join(
            str(event[key]) for key in ("sw_ident", "sw_ver", "sw_sys") if event.get(key)
        )
        came_online = kind == "worker-online" or (
            hostname in self.workers and self.workers[hostname].came_online
        )
        self.workers[hostname] = WorkerSeen(
            queue=queue_of_worker(hostname),
            online=kind != "worker-offline",
            software=software or None,
            processed=int(event.get("processed") or 0),
            active=int(event.get("active") or 0),
            at=moment,
            came_online=came_online,
        )
        if kind == "worker-online":
            self.markers.append(
                {
                    "queue": queue_of_worker(hostname),
                    "hostname": hostname,
                    "software": software or None,
                    "at": moment,
                }
            )

    def take(self) -> tuple[dict, dict, list]:
        with self.lock:
            taken = (self.tasks, self.workers, self.markers)
            self.tasks, self.workers, self.markers = {}, {}, []
        return taken

    def give_back(self, tasks: dict, workers: dict, markers: list) -> None:
        """A failed flush keeps its counts for the next one."""
        with self.lock:
            for key, counts in tasks.items():
                mine = self.tasks.setdefault(key, TaskCounts())
                for outcome, n in counts.counts.items():
                    mine.counts[outcome] += n
                mine.runtime_sum += counts.runtime_sum
                mine.runtime_max = max(mine.runtime_max, counts.runtime_max)
                mine.buckets = [a + b for a, b in zip(mine.buckets, counts.buckets, strict=True)]
            for hostname, seen in workers.items():
                self.workers.setdefault(hostname, seen)
            self.markers = markers + self.markers


async def flush(session: AsyncSession, tasks: dict, workers: dict, markers: list) -> None:
    rows = [
        {
            "queue": queue,
            "task": task,
            "minute": minute,
            **{outcome.value: counts.counts.get(outcome, 0) for outcome in TaskOutcome},
            "runtime_sum": counts.runtime_sum,
            "runtime_max": counts.runtime_max,
            "runtime_buckets": counts.buckets,
        }
        for (queue, task, minute), counts in sorted(tasks.items())
    ]
    await TaskMinuteDAO(session).add(rows)
    worker_dao = QueueWorkerDAO(session)
    for hostname, seen in sorted(workers.items()):
        await worker_dao.seen(
            {
                "hostname": hostname,
                "queue": seen.queue,
                "online": seen.online,
                "software": seen.software,
                "processed": seen.processed,
                "active": seen.active,
                "online_since": seen.at if seen.came_online else None,
                "last_seen_at": seen.at,
            },
            came_online=seen.came_online,
        )
    markers_dao = DeployMarkerDAO(session)
    for marker in markers:
        await markers_dao.add(marker)
    silent = datetime.now(UTC).timestamp() - SILENT_WORKER_SECONDS
    await worker_dao.mark_silent_offline(datetime.fromtimestamp(silent, UTC))


class EventsConsumer:
    def __init__(self, app: Celery, runtime: WorkerRuntime, flush_seconds: float):
        self.app = app
        self.runtime = runtime
        self.flush_seconds = flush_seconds
        self.aggregator = Aggregator()
        self.stopping = threading.Event()
        self.receiver: Any = None

    def flush_once(self) -> None:
        tasks, workers, markers = self.aggregator.take()
        try:
            self.runtime.run(flush, tasks=tasks, workers=workers, markers=markers)
        except Exception:
            self.aggregator.give_back(tasks, workers, markers)
            raise

    def _flusher(self) -> None:
        while not self.stopping.wait(self.flush_seconds):
            try:
                self.flush_once()
            except Exception as exc:  # the database may be away for a while: keep counting
                logger.warning("queue events flush failed, kept for the next: {!r}", exc)

    def _receive(self) -> None:
        backoff = 1.0
        while not self.stopping.is_set():
            try:
                with self.app.connection_for_read() as connection:
                    self.receiver = self.app.events.Receiver(
                        connection, handlers={"*": self.aggregator.on_event}
                    )
                    logger.info("queue events: receiving")
                    backoff = 1.0
                    self.receiver.capture(limit=None, timeout=None, wakeup=False)
            except Exception as exc:  # kombu's and amqp's errors are not all OSErrors: retry
                if self.stopping.is_set():
                    break
                logger.warning("queue events: receiving failed ({!r}), retrying", exc)
                self.stopping.wait(backoff)
                backoff = min(backoff * 2, 30.0)

    def stop(self, *_: Any) -> None:
        self.stopping.set()
        if self.receiver is not None:
            self.receiver.should_stop = True

    def run(self) -> None:
        flusher = threading.Thread(target=self._flusher, name="queue-events-flush", daemon=True)
        flusher.start()
        self._receive()
        flusher.join(timeout=self.flush_seconds + 5)
        self.flush_once()
        logger.info("queue events: stopped")


def main() -> None:
    from berth_monitoring.worker import celery_app, settings, worker_runtime

    configure_logging("monitoring-events", settings.log_level, settings.log_json)
    consumer = EventsConsumer(celery_app, worker_runtime, settings.queue_events_flush_seconds)
    signal.signal(signal.SIGTERM, consumer.stop)
    signal.signal(signal.SIGINT, consumer.stop)
    if not settings.broker_is_amqp:
        # the pages say task facts are unavailable; staying up keeps `make run` running
        logger.warning("queue events: the broker is not RabbitMQ; task facts are unavailable")
        consumer.stopping.wait()
        return
    consumer.run()


if __name__ == "__main__":
    main()
