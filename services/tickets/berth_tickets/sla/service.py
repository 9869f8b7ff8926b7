"""SLA clocks: business time over a calendar, due moments, pauses and breaches.

Pure functions, no database: the ticket flows call them with a ticket's policy and calendar.

- A `Calendar` says when the desk works: local weekly intervals in its timezone, minus whole
  holiday dates. No calendar means around the clock.
- A due moment is `add_business(start, minutes)`: the moment when that many business minutes
  have passed since `start`. Before the first working minute nothing counts.
- While a ticket waits on the customer its due moments are frozen: on resume each running
  one is pushed to `resume + (business time that was left at the pause)` (`resume_due`), so
  the time the customer took never counts against the desk, and a pause over a weekend costs
  the desk nothing either.
- First response: due from creation; met by the first staff reply.
  Next response: due from each customer message that follows a staff reply; met by the next.
  Resolution: due from creation; met by closing; a reopen starts a fresh window.
- A breach is a running due moment in the past while the clock runs (not paused).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from berth_tickets.enums import SlaState

#: how far ahead a due moment is searched for; a policy whose window a calendar cannot hold
#: within it is refused when it is saved (berth_tickets.sla.settings)
MAX_SEARCH_DAYS = 3 * 366
WEEKDAYS = ("1", "2", "3", "4", "5", "6", "7")  # ISO: Monday is 1


class InvalidCalendar(ValueError):
    """Hours or a timezone that do not make a working week."""


def _parse_clock(value: str) -> int:
    """'HH:MM' → minutes since midnight; '24:00' is the end of the day."""
    try:
        hours, minutes = value.split(":")
        total = int(hours) * 60 + int(minutes)
    except (ValueError, AttributeError):
        raise InvalidCalendar(f"not a time of day: {value!r}") from None
    if not (0 <= int(minutes) < 60 and 0 <= total <= 24 * 60) or len(value) != 5:
        raise InvalidCalendar(f"not a time of day: {value!r}")
    return total


def parse_weekly_hours(raw: Mapping[str, Any]) -> dict[int, tuple[tuple[int, int], ...]]:
    """{"1": [["09:00", "17:00"]], ...} → {1: ((540, 1020),), ...}; intervals must be
    ordered, non-empty and not overlap; unknown day keys are refused."""
    week: dict[int, tuple[tuple[int, int], ...]] = {}
    for key, intervals in raw.items():
        if key not in WEEKDAYS:
            raise InvalidCalendar(f"weekday keys are '1' (Monday) to '7', not {key!r}")
        if not isinstance(intervals, list | tuple) or len(intervals) > 12:
            raise InvalidCalendar(f"day {key}: a list of at most 12 [start, end] intervals")
        parsed: list[tuple[int, int]] = []
        for interval in intervals:
            if not isinstance(interval, list | tuple) or len(interval) != 2:
                raise InvalidCalendar(f"day {key}: each interval is [start, end]")
            start, end = _parse_clock(interval[0]), _parse_clock(interval[1])
            if start >= end:
                raise InvalidCalendar(f"day {key}: {interval[0]}-{interval[1]} is empty")
            if parsed and start < parsed[-1][1]:
                raise InvalidCalendar(f"day {key}: intervals must be ordered and not overlap")
            parsed.append((start, end))
        if parsed:
            week[int(key)] = tuple(parsed)
    if not week:
        raise InvalidCalendar("a calendar needs working hours on at least one day")
    return week


@dataclass(frozen=True)
class Calendar:
    """Working hours in a timezone; `None` where a function takes one means 24/7."""

    timezone: str
    week: dict[int, tuple[tuple[int, int], ...]]
    holidays: frozenset[date] = field(default_factory=frozenset)

    @classmethod
    def build(
        cls, timezone: str, weekly_hours: Mapping[str, Any], holidays: Sequence[date] = ()
    ) -> Calendar:
        try:
            ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise InvalidCalendar(f"unknown timezone {timezone!r}") from None
        return cls(timezone, parse_weekly_hours(weekly_hours), frozenset(holidays))

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def intervals_of(self, day: date) -> Iterator[tuple[datetime, datetime]]:
        """The day's working intervals as aware UTC moments (a DST gap or fold is resolved
        by zoneinfo's fold=0 rule: the same wall clock the desk reads)."""
        if day in self.holidays:
            return
        for start, end in self.week.get(day.isoweekday(), ()):
            yield self._at(day, start), self._at(day, end)

    def _at(self, day: date, minutes: int) -> datetime:
        if minutes == 24 * 60:
            local = datetime.combine(day + timedelta(days=1), time(0), tzinfo=self.zone)
        else:
            local = datetime.combine(day, time(minutes // 60, minutes % 60), tzinfo=self.zone)
        return local.astimezone(UTC)


def _aware(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("SLA moments must be timezone-aware")
    return moment.astimezone(UTC)


def _working_intervals(calendar: Calendar, start: datetime) -> Iterator[tuple[datetime, datetime]]:
    """Working intervals that end after `start`, in order, clipped to begin at `start`."""
    first_day = start.astimezone(calendar.zone).date() - timedelta(days=1)
    for offset in range(MAX_SEARCH_DAYS):
        for begin, end in calendar.intervals_of(first_day + timedelta(days=offset)):
            if end <= start:
                continue
            yield max(begin, start), end


def add_business(start: datetime, minutes: float, calendar: Calendar | None) -> datetime:
    """The moment `minutes` of business time after `start`."""
    start = _aware(start)
    if minutes < 0:
        raise ValueError("minutes must not be negative")
    if calendar is None:
        return start + timedelta(minutes=minutes)
    left = timedelta(minutes=minutes)
    moment = start
    for begin, end in _working_intervals(calendar, start):
        if left <= end - begin:
            return begin + left
        left -= end - begin
        moment = end
    raise InvalidCalendar(f"no end within {MAX_SEARCH_DAYS} days after {moment.isoformat()}")


def business_between(start: datetime, end: datetime, calendar: Calendar | None) -> timedelta:
    """Business time from `start` to `end` (zero when end is not after start)."""
    start, end = _aware(start), _aware(end)
    if end <= start:
        return timedelta(0)
    if calendar is None:
        return end - start
    total = timedelta(0)
    for begin, stop in _working_intervals(calendar, start):
        if begin >= end:
            break
        total += min(stop, end) - begin
    return total


@dataclass(frozen=True)
class Policy:
    first_response_minutes: int
    next_response_minutes: int
    resolution_minutes: int
    calendar: Calendar | None = None


@dataclass
class Clock:
    """A ticket's SLA columns, as the functions here read and change them."""

    first_response_due_at: datetime | None = None
    next_response_due_at: datetime | None = None
    resolution_due_at: datetime | None = None
    paused_since: datetime | None = None
    paused_seconds: int = 0

    def running(self) -> dict[str, datetime]:
        return {
            name: value
            for name, value in (
                ("first_response", self.first_response_due_at),
                ("next_response", self.next_response_due_at),
                ("resolution", self.resolution_due_at),
            )
            if value is not None
        }


def start_clock(opened_at: datetime, policy: Policy) -> Clock:
    """A new ticket's windows: first response and resolution, from its creation."""
    return Clock(
        first_response_due_at=add_business(
            opened_at, policy.first_response_minutes, policy.calendar
        ),
        resolution_due_at=add_business(opened_at, policy.resolution_minutes, policy.calendar),
    )


def pause(clock: Clock, at: datetime) -> Clock:
    """The ticket now waits on the customer: due moments freeze (idempotent)."""
    if clock.paused_since is None:
        clock.paused_since = _aware(at)
    return clock


def resume_due(
    due: datetime | None, paused_since: datetime, resumed_at: datetime, calendar: Calendar | None
) -> datetime | None:
    """A frozen due moment after the pause: the business time left at the pause, counted
    from the resume. A due already past at the pause stays where it was (breached)."""
    if due is None:
        return None
    if due <= paused_since:
        return due
    left = business_between(paused_since, due, calendar)
    return add_business(resumed_at, left.total_seconds() / 60, calendar)


def resume(clock: Clock, at: datetime, calendar: Calendar | None) -> Clock:
    """The clock runs again (a customer's message, a status back to open): idempotent."""
    if clock.paused_since is None:
        return clock
    at = _aware(at)
    since = clock.paused_since
    clock.first_response_due_at = resume_due(clock.first_response_due_at, since, at, calendar)
    clock.next_response_due_at = resume_due(clock.next_response_due_at, since, at, calendar)
    clock.resolution_due_at = resume_due(clock.resolution_due_at, since, at, calendar)
    clock.paused_seconds += max(0, int((at - since).total_seconds()))
    clock.paused_since = None
    return clock


def staff_replied(clock: Clock) -> Clock:
    """A public staff reply meets the first response and any next response owed."""
    clock.first_response_due_at = None
    clock.next_response_due_at = None
    return clock


def customer_wrote(clock: Clock, at: datetime, policy: Policy, *, answered: bool) -> Clock:
    """A customer's message after the desk answered (`answered`) owes a next response; before
    any answer the first response is still running and covers it."""
    if answered and clock.next_response_due_at is None:
        clock.next_response_due_at = add_business(at, policy.next_response_minutes, policy.calendar)
    return clock


def stop(clock: Clock) -> Clock:
    """Closed or merged: nothing runs any more."""
    return Clock(paused_seconds=clock.paused_seconds)


def restart(at: datetime, policy: Policy, clock: Clock) -> Clock:
    """A reopen: a fresh resolution window and a next response owed (the customer wrote)."""
    return Clock(
        next_response_due_at=add_business(at, policy.next_response_minutes, policy.calendar),
        resolution_due_at=add_business(at, policy.resolution_minutes, policy.calendar),
        paused_seconds=clock.paused_seconds,
    )


def breaches(clock: Clock, now: datetime) -> dict[str, datetime]:
    """The running windows whose due moment has passed (none while paused)."""
    if clock.paused_since is not None:
        return {}
    now = _aware(now)
    return {name: due for name, due in clock.running().items() if due <= now}


def time_left(clock: Clock, now: datetime, calendar: Calendar | None) -> dict[str, float]:
    """Business seconds left per running window (negative: breached by that much wall time;
    while paused: what was left at the pause)."""
    moment = clock.paused_since or _aware(now)
    left: dict[str, float] = {}
    for name, due in clock.running().items():
        if due <= moment:
            left[name] = -(moment - due).total_seconds()
        else:
            left[name] = business_between(moment, due, calendar).total_seconds()
    return left


def state(
    clock: Clock,
    now: datetime,
    policy: Policy | None,
    at_risk_ratio: float,
) -> SlaState:
    """ok / at_risk (less than `at_risk_ratio` of a window's own length left) / breached."""
    if breaches(clock, now):
        return SlaState.BREACHED
    if policy is None:
        return SlaState.OK
    windows = {
        "first_response": policy.first_response_minutes,
        "next_response": policy.next_response_minutes,
        "resolution": policy.resolution_minutes,
    }
    for name, seconds in time_left(clock, now, policy.calendar).items():
        if seconds < windows[name] * 60 * at_risk_ratio:
            return SlaState.AT_RISK
    return SlaState.OK
