"""SLA clocks over business calendars: pure functions, no database."""

from datetime import UTC, date, datetime, timedelta

import pytest

from berth_tickets.enums import SlaState
from berth_tickets.sla import service as sla

# Mon-Fri 09:00-17:00 in Berlin (UTC+1 in winter, UTC+2 in summer); 2026-12-25 is a holiday
WEEKDAYS_9_TO_5 = {str(d): [["09:00", "17:00"]] for d in range(1, 6)}
BERLIN = sla.Calendar.build("Europe/Berlin", WEEKDAYS_9_TO_5, [date(2026, 12, 25)])
POLICY = sla.Policy(
    first_response_minutes=60,
    next_response_minutes=120,
    resolution_minutes=8 * 60,
    calendar=BERLIN,
)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_around_the_clock_is_plain_minutes() -> None:
    start = utc(2026, 12, 5, 23, 30)  # a Saturday night
    assert sla.add_business(start, 90, None) == utc(2026, 12, 6, 1, 0)
    assert sla.business_between(start, utc(2026, 12, 6, 1, 0), None) == timedelta(minutes=90)


def test_inside_business_hours_minutes_count_one_for_one() -> None:
    # Tuesday 10:00 Berlin = 09:00 UTC
    assert sla.add_business(utc(2026, 12, 1, 9, 0), 60, BERLIN) == utc(2026, 12, 1, 10, 0)


def test_a_ticket_opened_at_night_starts_counting_at_nine() -> None:
    # Tuesday 02:00 Berlin: nothing counts until 09:00 Berlin (08:00 UTC)
    opened = utc(2026, 12, 1, 1, 0)
    assert sla.add_business(opened, 60, BERLIN) == utc(2026, 12, 1, 9, 0)


def test_friday_evening_runs_over_the_weekend_into_monday() -> None:
    # Friday 16:30 Berlin (15:30 UTC) + 60 business minutes: 30 on Friday, 30 on Monday
    friday = utc(2026, 12, 4, 15, 30)
    assert sla.add_business(friday, 60, BERLIN) == utc(2026, 12, 7, 8, 30)
    assert sla.business_between(friday, utc(2026, 12, 7, 8, 30), BERLIN) == timedelta(hours=1)


def test_holidays_do_not_count() -> None:
    # Thursday 2026-12-24 16:00 Berlin + 2 h: 1 h that day, Friday 25th is a holiday, the
    # weekend is closed, so the second hour is Monday 28th 09:00-10:00 Berlin
    due = sla.add_business(utc(2026, 12, 24, 15, 0), 120, BERLIN)
    assert due == utc(2026, 12, 28, 9, 0)


def test_summer_time_keeps_the_desks_wall_clock() -> None:
    # Monday 2026-03-30 is after the switch (UTC+2): 09:00 Berlin is 07:00 UTC
    assert sla.add_business(utc(2026, 3, 30, 5, 0), 30, BERLIN) == utc(2026, 3, 30, 7, 30)


def test_a_pause_while_waiting_on_the_customer_moves_the_due_time() -> None:
    opened = utc(2026, 12, 1, 9, 0)  # Tuesday 10:00 Berlin
    clock = sla.start_clock(opened, POLICY)
    assert clock.resolution_due_at == utc(2026, 12, 2, 9, 0)  # 8 business hours later
    # staff answer at 11:00 Berlin and wait on the customer: 7 business hours are left
    sla.staff_replied(clock)
    sla.pause(clock, utc(2026, 12, 1, 10, 0))
    # the customer answers two days later at 15:00 Berlin: 7 h left from then → 2 h on
    # Thursday, 5 h on Friday: due Friday 14:00 Berlin
    resumed = utc(2026, 12, 3, 14, 0)
    assert sla.breaches(clock, resumed) == {}  # paused: no breach even past the old due
    sla.resume(clock, resumed, BERLIN)
    assert clock.paused_since is None
    assert clock.resolution_due_at == utc(2026, 12, 4, 13, 0)
    assert clock.paused_seconds == int((resumed - utc(2026, 12, 1, 10, 0)).total_seconds())
    assert sla.breaches(clock, utc(2026, 12, 4, 12, 59)) == {}
    assert sla.breaches(clock, utc(2026, 12, 4, 13, 0)) == {"resolution": clock.resolution_due_at}


def test_a_pause_outside_business_hours_costs_nothing() -> None:
    # paused Friday 18:00 Berlin, resumed Monday 08:00 Berlin: no business time passed, so
    # the due time is the same moment
    clock = sla.Clock(resolution_due_at=utc(2026, 12, 7, 10, 0))
    sla.pause(clock, utc(2026, 12, 4, 17, 0))
    sla.resume(clock, utc(2026, 12, 7, 7, 0), BERLIN)
    assert clock.resolution_due_at == utc(2026, 12, 7, 10, 0)


def test_breached_before_the_pause_stays_breached() -> None:
    clock = sla.Clock(first_response_due_at=utc(2026, 12, 1, 9, 0))
    sla.pause(clock, utc(2026, 12, 1, 12, 0))
    sla.resume(clock, utc(2026, 12, 2, 12, 0), BERLIN)
    assert sla.breaches(clock, utc(2026, 12, 2, 12, 0)) == {
        "first_response": utc(2026, 12, 1, 9, 0)
    }


def test_first_and_next_responses() -> None:
    opened = utc(2026, 12, 1, 9, 0)
    clock = sla.start_clock(opened, POLICY)
    assert clock.first_response_due_at == utc(2026, 12, 1, 10, 0)
    # the customer adds a message before any answer: the first response covers it
    sla.customer_wrote(clock, utc(2026, 12, 1, 9, 30), POLICY, answered=False)
    assert clock.next_response_due_at is None
    sla.staff_replied(clock)
    assert clock.first_response_due_at is None
    sla.customer_wrote(clock, utc(2026, 12, 1, 15, 0), POLICY, answered=True)
    # Tuesday 16:00 Berlin + 2 business hours = Wednesday 10:00 Berlin
    assert clock.next_response_due_at == utc(2026, 12, 2, 9, 0)


def test_state_ok_at_risk_breached() -> None:
    clock = sla.Clock(first_response_due_at=utc(2026, 12, 1, 10, 0))  # window of 60 min
    assert sla.state(clock, utc(2026, 12, 1, 9, 0), POLICY, 0.25) == SlaState.OK
    assert sla.state(clock, utc(2026, 12, 1, 9, 50), POLICY, 0.25) == SlaState.AT_RISK
    assert sla.state(clock, utc(2026, 12, 1, 10, 0), POLICY, 0.25) == SlaState.BREACHED
    left = sla.time_left(clock, utc(2026, 12, 1, 9, 50), BERLIN)
    assert left == {"first_response": 600.0}


def test_reopen_and_close() -> None:
    clock = sla.Clock(resolution_due_at=utc(2026, 12, 1, 10, 0), paused_seconds=5)
    stopped = sla.stop(clock)
    assert stopped.running() == {} and stopped.paused_seconds == 5
    again = sla.restart(utc(2026, 12, 1, 9, 0), POLICY, stopped)
    assert again.resolution_due_at == utc(2026, 12, 2, 9, 0)
    assert again.next_response_due_at == utc(2026, 12, 1, 11, 0)


@pytest.mark.parametrize(
    ("hours", "message"),
    [
        ({"8": [["09:00", "17:00"]]}, "weekday keys"),
        ({"1": [["17:00", "09:00"]]}, "empty"),
        ({"1": [["09:00", "12:00"], ["11:00", "13:00"]]}, "overlap"),
        ({"1": [["9:00", "12:00"]]}, "time of day"),
        ({"1": [["09:00", "24:01"]]}, "time of day"),
        ({}, "at least one day"),
        ({"1": "09:00-17:00"}, "list"),
    ],
)
def test_bad_calendars_are_refused(hours: dict, message: str) -> None:
    with pytest.raises(sla.InvalidCalendar, match=message):
        sla.Calendar.build("UTC", hours)


def test_unknown_timezone_is_refused() -> None:
    with pytest.raises(sla.InvalidCalendar, match="timezone"):
        sla.Calendar.build("Mars/Olympus", WEEKDAYS_9_TO_5)


def test_naive_moments_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        sla.add_business(datetime(2026, 12, 1, 9), 10, BERLIN)
