"""The in-process moving window (GATEWAY_RATE_LIMIT_STORAGE_URL=memory://, berth_common.ratelimit),
on a fake clock."""

import pytest
from limits import parse

from berth_common import ratelimit
from berth_common.errors import RateLimited
from berth_common.ratelimit import LocalMovingWindow
from berth_common.security import Principal, PrincipalKind
from berth_gateway.ratelimit import RateLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(ratelimit.time, "monotonic", fake)
    return fake


def test_a_window_admits_its_limit_then_frees_a_slot_as_each_hit_ages_out(clock: Clock) -> None:
    windows, item = LocalMovingWindow(), parse("3/minute")
    for _ in range(3):
        assert windows.hit(item, ("ip", "a")) is None
        clock.now += 10
    assert windows.hit(item, ("ip", "a")) == pytest.approx(30.0)  # the first hit is 30 s old
    assert windows.hit(item, ("ip", "b")) is None  # another caller has its own window
    clock.now += 30
    assert windows.hit(item, ("ip", "a")) is None
    assert windows.hit(item, ("ip", "a")) == pytest.approx(10.0)


def test_refused_hits_do_not_count(clock: Clock) -> None:
    windows, item = LocalMovingWindow(), parse("1/minute")
    assert windows.hit(item, ("ip", "a")) is None
    for _ in range(5):
        clock.now += 10
        assert windows.hit(item, ("ip", "a")) is not None
    clock.now += 10.5
    assert windows.hit(item, ("ip", "a")) is None


def test_quiet_callers_windows_are_dropped(clock: Clock) -> None:
    windows, item = LocalMovingWindow(), parse("5/second")
    for caller in ("a", "b"):
        windows.hit(item, ("ip", caller))
    clock.now += ratelimit.SWEEP_SECONDS + 1
    windows.hit(item, ("ip", "c"))
    assert list(windows.hits) == [("ip", "c")]


async def test_the_limiter_answers_429_with_retry_after_from_the_window(clock: Clock) -> None:
    limiter = RateLimiter("memory://", authenticated="2/minute", anonymous="1/minute")
    alice = Principal(subject="u1", kind=PrincipalKind.USER, client_id="berth-web")
    await limiter.hit(alice, "10.0.0.1")
    await limiter.hit(alice, "10.0.0.1")
    await limiter.hit(None, "10.0.0.1")  # anonymous callers count apart from principals
    clock.now += 20.2
    with pytest.raises(RateLimited) as refused:
        await limiter.hit(alice, "10.0.0.1")
    assert refused.value.headers["Retry-After"] == "40"
    assert await limiter.check()
