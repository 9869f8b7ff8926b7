"""Where the queue pages' facts come from, and when the pages must say they have none."""

from datetime import UTC, datetime, timedelta

import pytest

from berth_monitoring.config import MonitoringSettings
from berth_monitoring.queues import pages, rabbit, service


def settings(**values) -> MonitoringSettings:
    return MonitoringSettings(**values)


def test_the_vhost_is_the_broker_urls():
    assert service.broker_vhost("amqp://u:p@127.0.0.1:5672/berth") == "berth"
    assert service.broker_vhost("amqp://u:p@127.0.0.1:5672//") == "/"
    assert service.broker_vhost("amqp://u:p@127.0.0.1:5672") == "/"
    assert service.broker_vhost("amqp://u:p@127.0.0.1:5672/a%2Fb") == "a/b"
    url = rabbit.metrics_url("http://127.0.0.1:15692/", "/")
    assert url.startswith("http://127.0.0.1:15692/metrics/detailed?vhost=%2F&family=")


def test_samples_fall_in_slots():
    moment = datetime(2026, 1, 1, 0, 0, 47, 500000, tzinfo=UTC)
    assert service.slot_of(moment, 20) == datetime(2026, 1, 1, 0, 0, 40, tzinfo=UTC)


async def test_without_rabbitmq_nothing_is_sampled_and_the_pages_say_so():
    fallback = settings(broker_url="filesystem://")
    assert await service.sample_queues(None, fallback) == 0  # type: ignore[arg-type]
    status = pages.facts_status(fallback, None)
    assert not status.available and "not RabbitMQ" in (status.reason or "")


def test_old_samples_are_not_shown_as_current():
    amqp = settings(broker_url="amqp://guest:guest@127.0.0.1:5672//", queue_sample_seconds=20)
    now = datetime.now(UTC)
    assert pages.facts_status(amqp, now - timedelta(seconds=30)).available
    stale = pages.facts_status(amqp, now - timedelta(minutes=5))
    assert not stale.available and "not answering" in (stale.reason or "")
    assert not pages.facts_status(amqp, None).available


async def test_an_unreachable_prometheus_endpoint_is_unavailable_not_an_error():
    with pytest.raises(rabbit.BrokerFactsUnavailable):
        await rabbit.scrape("http://127.0.0.1:9", "/", wait_seconds=2)
