"""Full UTC hours: what prices, metering and charge listings count in."""

from datetime import UTC, datetime, timedelta


def hour_floor(at: datetime) -> datetime:
    return at.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def full_hours(since: datetime, until: datetime) -> list[datetime]:
    """Every full hour h (UTC) with since <= h < until, oldest first."""
    first = hour_floor(since)
    if first < since:
        first += timedelta(hours=1)
    count = max(0, -(-(until - first) // timedelta(hours=1)))  # ceil: an hour begun counts
    return [first + timedelta(hours=n) for n in range(count)]
