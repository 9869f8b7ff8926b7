"""Queue facts from RabbitMQ's Prometheus endpoint (the rabbitmq_prometheus plugin, port 15692).

One scrape of `/metrics/detailed?vhost=<vhost>&family=...` per sample gives, per queue, its
ready and unacknowledged messages and its consumers (`queue_coarse_metrics`,
`queue_consumer_count`), and per channel and queue the cumulative publish, deliver and ack
counters (`channel_queue_exchange_metrics`, `channel_queue_metrics`). The management API's
statistics database is not used: it is the known bottleneck of busy brokers, and this endpoint
reads the core metric tables directly.

Counters are per channel and vanish with their channel, so the sampler keeps each channel's last
value and adds up deltas (`advance_counters`): a channel seen for the first time contributes its
whole count (it opened after the previous sample), a channel that closed between two samples
loses only what it did after the previous sample.
"""

from dataclasses import dataclass, field
from urllib.parse import quote

import httpx
from prometheus_client.parser import text_string_to_metric_families

FAMILIES = (
    "queue_coarse_metrics",
    "queue_consumer_count",
    "channel_queue_metrics",
    "channel_queue_exchange_metrics",
)
# what each counter adds to: a delivery to a consumer or a basic.get both take a message
# from the ready ones; only basic.get's acked form and consumer acks are acks
_PUBLISHED = ("rabbitmq_detailed_queue_messages_published",)
_DELIVERED = (
    "rabbitmq_detailed_channel_messages_delivered_ack",
    "rabbitmq_detailed_channel_messages_delivered",
    "rabbitmq_detailed_channel_get_ack",
    "rabbitmq_detailed_channel_get",
)
_ACKED = ("rabbitmq_detailed_channel_messages_acked",)
COUNTERS = ("published", "delivered", "acked")


class BrokerFactsUnavailable(Exception):
    """RabbitMQ's Prometheus endpoint did not answer (or the broker is not RabbitMQ)."""


@dataclass
class QueueFacts:
    name: str
    ready: int = 0
    unacked: int = 0
    consumers: int = 0
    # {counter: {channel: cumulative value}}
    channels: dict[str, dict[str, float]] = field(
        default_factory=lambda: {name: {} for name in COUNTERS}
    )


def is_task_queue(name: str) -> bool:
    """A Celery task queue of a service, not Celery's plumbing (events, remote control,
    replies) nor a web process's revocation feed."""
    return not (
        name.startswith(("celeryev.", "amq."))
        or name.endswith(".pidbox")
        or ".revocations." in name
        or ".reply." in name
    )


def parse_metrics(text: str) -> dict[str, QueueFacts]:
    queues: dict[str, QueueFacts] = {}

    def facts(name: str) -> QueueFacts:
        return queues.setdefault(name, QueueFacts(name))

    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            queue = sample.labels.get("queue")
            if not queue or not is_task_queue(queue):
                continue
            name, value = sample.name.removesuffix("_total"), sample.value
            if name == "rabbitmq_detailed_queue_messages_ready":
                facts(queue).ready = int(value)
            elif name == "rabbitmq_detailed_queue_messages_unacked":
                facts(queue).unacked = int(value)
            elif name == "rabbitmq_detailed_queue_consumers":
                facts(queue).consumers = int(value)
            else:
                counter = (
                    "published"
                    if name in _PUBLISHED
                    else "delivered"
                    if name in _DELIVERED
                    else "acked"
                    if name in _ACKED
                    else None
                )
                if counter is None or sample.name.endswith("_created"):
                    continue
                channel = sample.labels.get("channel", "")
                per_channel = facts(queue).channels[counter]
                per_channel[channel] = per_channel.get(channel, 0.0) + value
    return queues


def advance_counters(
    previous: dict[str, dict[str, float]] | None, current: dict[str, dict[str, float]]
) -> dict[str, int]:
    """How much each counter grew since the previous sample's per-channel values."""
    grown: dict[str, int] = {}
    for counter in COUNTERS:
        before = (previous or {}).get(counter, {})
        total = 0.0
        for channel, value in current.get(counter, {}).items():
            total += max(0.0, value - before.get(channel, 0.0))
        grown[counter] = int(total)
    return grown


def metrics_url(base_url: str, vhost: str) -> str:
    families = "&".join(f"family={name}" for name in FAMILIES)
    return f"{base_url.rstrip('/')}/metrics/detailed?vhost={quote(vhost, safe='')}&{families}"


async def scrape(base_url: str, vhost: str, wait_seconds: float = 5.0) -> dict[str, QueueFacts]:
    """Every task queue of `vhost` with its facts now; BrokerFactsUnavailable if unreachable."""
    try:
        async with httpx.AsyncClient(timeout=wait_seconds, trust_env=False) as client:
            response = await client.get(metrics_url(base_url, vhost))
            response.raise_for_status()
    except httpx.HTTPStatusError as exc:
        status = exc.response.status_code
        raise BrokerFactsUnavailable(f"RabbitMQ's Prometheus endpoint answered {status}") from exc
    except httpx.HTTPError as exc:  # the URL may carry credentials: only the error's kind
        raise BrokerFactsUnavailable(
            f"RabbitMQ's Prometheus endpoint: {type(exc).__name__}"
        ) from exc
    return parse_metrics(response.text)
