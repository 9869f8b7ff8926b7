"""Celery protocol-2 task messages built without a Celery app, so a web process can
publish a task (or an event, delivered as the `berth.event` task) with aio-pika."""

import json
import socket
import uuid
from dataclasses import dataclass, field
from typing import Any

from berth_common.context import request_id_var, user_id_var

EVENTS_EXCHANGE = "berth.events"
EVENT_TASK = "berth.event"
_ORIGIN = f"web@{socket.gethostname()}"


@dataclass
class OutgoingMessage:
    id: str
    exchange: str
    routing_key: str
    headers: dict[str, Any]
    body: str
    mandatory: bool = True
    properties: dict[str, Any] = field(default_factory=dict)


def task_message(
    name: str,
    *,
    queue: str,
    kwargs: dict[str, Any] | None = None,
    task_id: str | None = None,
    exchange: str | None = None,
    routing_key: str | None = None,
    mandatory: bool = True,
) -> OutgoingMessage:
    task_id = task_id or str(uuid.uuid4())
    kwargs = kwargs or {}
    body = json.dumps(
        [[], kwargs, {"callbacks": None, "errbacks": None, "chain": None, "chord": None}]
    )
    headers: dict[str, Any] = {
        "lang": "py",
        "task": name,
        "id": task_id,
        "shadow": None,
        "eta": None,
        "expires": None,
        "group": None,
        "group_index": None,
        "retries": 0,
        "timelimit": [None, None],
        "root_id": task_id,
        "parent_id": None,
        "argsrepr": "()",
        "kwargsrepr": repr(sorted(kwargs)),  # names only: values may be personal data
        "origin": _ORIGIN,
        "ignore_result": True,
        "replaced_task_nesting": 0,
        "stamped_headers": None,
        "stamps": {},
    }
    rid, uid = request_id_var.get(), user_id_var.get()
    if rid:
        headers["berth_request_id"] = rid
    if uid:
        headers["berth_user_id"] = uid
    return OutgoingMessage(
        id=task_id,
        exchange=exchange if exchange is not None else queue,
        routing_key=routing_key or queue,
        headers=headers,
        body=body,
        mandatory=mandatory,
        properties={"correlation_id": task_id},
    )


def event_message(routing_key: str, payload: dict[str, Any], *, source: str) -> OutgoingMessage:
    """A domain event `<service>.<entity>.<verb>`; consumers dedupe on `event_id`."""
    parts = routing_key.split(".")
    if len(parts) != 3 or not all(parts):
        raise ValueError("event keys look like <service>.<entity>.<verb>")
    event_id = str(uuid.uuid4())
    from berth_common.logging import now_iso

    envelope = {
        "event_id": event_id,
        "key": routing_key,
        "source": source,
        "occurred_at": now_iso(),
        "payload": payload,
    }
    return task_message(
        EVENT_TASK,
        queue=EVENTS_EXCHANGE,
        kwargs={"event": envelope},
        task_id=event_id,
        exchange=EVENTS_EXCHANGE,
        routing_key=routing_key,
        mandatory=False,  # an event nobody listens to yet is not an error
    )
