"""The queue pages' rules without a broker: the oldest waiting message's age from samples,
rates from per-channel counters, and alert episodes that open once and close once."""

from datetime import UTC, datetime, timedelta

from berth_monitoring.queues.enums import QueueAlertKind
from berth_monitoring.queues.rabbit import advance_counters, is_task_queue, parse_metrics
from berth_monitoring.queues.rules import (
    RUNTIME_BUCKETS,
    Limits,
    Point,
    breached,
    episode_changes,
    no_consumers_since,
    oldest_waiting_age,
    p95,
    search_from,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def at(seconds: int) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_a_queue_nobody_takes_from_ages_with_its_first_message():
    history = [Point(at(0), 0, 0), Point(at(20), 3, 0), Point(at(40), 7, 0)]
    assert oldest_waiting_age(history, Point(at(60), 9, 0)) == 40.0


def test_an_empty_queue_has_no_waiting_message():
    assert oldest_waiting_age([Point(at(0), 5, 0)], Point(at(20), 0, 5)) is None


def test_a_draining_queue_gets_younger_as_the_old_messages_are_taken():
    # 4 came by 20, 10 by 40; 6 delivered by 60: the head now is the 7th, which came by 40
    history = [Point(at(0), 0, 0), Point(at(20), 4, 0), Point(at(40), 10, 0)]
    assert oldest_waiting_age(history, Point(at(60), 4, 6)) == 20.0
    # 3 delivered: the head is the 4th, waiting since 20
    assert oldest_waiting_age(history, Point(at(60), 7, 3)) == 40.0
    # 9 delivered: the head is the 10th, which came after 20 and waited at 40
    assert oldest_waiting_age(history, Point(at(60), 1, 9)) == 20.0
    # all 10 delivered: the one waiting now came after the last sample
    assert oldest_waiting_age(history, Point(at(60), 1, 10)) == 0.0


def test_a_flowing_queue_has_a_young_head_however_long_it_was_never_empty():
    # always 2 ready, but 10 taken each interval: the head is never more than one interval old
    history = [Point(at(20 * i), 2, 10 * i) for i in range(10)]
    assert oldest_waiting_age(history, Point(at(200), 2, 100)) == 0.0


def test_a_message_put_back_never_makes_the_age_older():
    history = [Point(at(0), 0, 0), Point(at(20), 2, 0)]
    # one delivered, then put back: ready 2 again, deliveries 1: the bound gets younger
    assert oldest_waiting_age(history, Point(at(40), 2, 1)) == 20.0
    assert oldest_waiting_age(history, Point(at(40), 2, 0)) == 20.0


def test_counters_add_up_per_channel_across_closing_and_opening_channels():
    before = {"published": {"<0.1.0>": 10.0, "<0.2.0>": 5.0}, "delivered": {}, "acked": {}}
    # channel 2 closed; channel 3 opened since; channel 1 published 4 more
    now = {"published": {"<0.1.0>": 14.0, "<0.3.0>": 2.0}, "delivered": {"<0.9.0>": 3.0}}
    assert advance_counters(before, now) == {"published": 6, "delivered": 3, "acked": 0}
    assert advance_counters(None, now)["published"] == 16


def test_parse_keeps_task_queues_and_sums_channel_counters():
    text = "\n".join(
        [
            'rabbitmq_detailed_queue_messages_ready{vhost="/",queue="billing"} 7',
            'rabbitmq_detailed_queue_messages_unacked{vhost="/",queue="billing"} 1',
            'rabbitmq_detailed_queue_consumers{vhost="/",queue="billing"} 2',
            'rabbitmq_detailed_queue_messages_ready{vhost="/",queue="celeryev.x"} 3',
            'rabbitmq_detailed_channel_messages_delivered_ack_total{channel="<0.5.0>",'
            'vhost="/",queue="billing"} 4',
            'rabbitmq_detailed_channel_get_ack_total{channel="<0.5.0>",vhost="/",queue="billing"} 1',
            'rabbitmq_detailed_channel_messages_acked_total{channel="<0.5.0>",'
            'vhost="/",queue="billing"} 5',
            'rabbitmq_detailed_queue_messages_published_total{channel="<0.6.0>",queue_vhost="/",'
            'queue="billing",exchange_vhost="/",exchange="billing"} 9',
        ]
    )
    facts = parse_metrics(text + "\n")
    assert set(facts) == {"billing"}
    billing = facts["billing"]
    assert (billing.ready, billing.unacked, billing.consumers) == (7, 1, 2)
    assert billing.channels == {
        "published": {"<0.6.0>": 9.0},
        "delivered": {"<0.5.0>": 5.0},
        "acked": {"<0.5.0>": 5.0},
    }
    assert not is_task_queue("auth.pidbox") and not is_task_queue("web.revocations.abc")


def test_no_consumers_counts_from_the_first_sample_without_one():
    assert no_consumers_since(0, at(20), None, 1) == at(20)
    assert no_consumers_since(0, at(40), at(20), 0) == at(20)
    assert no_consumers_since(1, at(60), at(20), 0) is None


def test_a_breach_opens_one_episode_and_its_end_closes_it():
    limits = Limits(oldest_age_seconds=30, no_consumers_seconds=60)
    assert breached(limits, at=at(0), oldest_age=30.0, zero_consumers_since=None) == set()
    now = breached(limits, at=at(60), oldest_age=31.0, zero_consumers_since=at(0))
    assert now == {QueueAlertKind.OLDEST_AGE, QueueAlertKind.NO_CONSUMERS}
    assert episode_changes(set(), now) == (now, set())
    # still breached: nothing new to open, nothing to close
    assert episode_changes(now, now) == (set(), set())
    assert episode_changes(now, {QueueAlertKind.NO_CONSUMERS}) == (
        set(),
        {QueueAlertKind.OLDEST_AGE},
    )
    unwatched = Limits(oldest_age_seconds=None, no_consumers_seconds=None)
    assert breached(unwatched, at=at(60), oldest_age=1e6, zero_consumers_since=at(0)) == set()


def test_the_search_for_the_head_starts_where_the_previous_head_arrived():
    # the previous head waited 40 s at 100: the head now cannot have arrived before 60
    assert search_from(at(100), 40.0, at(0)) == at(60)
    # the queue was empty at the previous sample: its head now came after it
    assert search_from(at(100), None, at(0)) == at(100)
    assert search_from(None, None, at(0)) == at(0)
    # searching from there gives the same age as searching the whole history
    history = [Point(at(0), 0, 0)] + [Point(at(20 * i), 3 + 2 * i, 2 * i) for i in range(1, 6)]
    previous_age = oldest_waiting_age(history[:-1], history[-1])
    now = Point(at(120), 4, 13)
    bounded = [p for p in history if p.at >= search_from(history[-1].at, previous_age, at(0))]
    assert len(bounded) < len(history)
    assert oldest_waiting_age(bounded, now) == oldest_waiting_age(history, now) == 60.0


def test_p95_is_the_bucket_bound_that_covers_95_percent_of_runs():
    buckets = [0] * (len(RUNTIME_BUCKETS) + 1)
    assert p95(buckets) is None
    buckets[1] = 95  # <= 0.05 s
    buckets[6] = 5  # <= 2.5 s
    assert p95(buckets) == 0.05
    buckets[6] = 6
    assert p95(buckets) == 2.5
    buckets[-1] = 100  # beyond the last bound
    assert p95(buckets) == float("inf")
