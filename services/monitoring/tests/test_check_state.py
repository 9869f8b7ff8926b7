"""The state machine and the schedule, as pure functions: every state against both results."""

from datetime import UTC, datetime, timedelta

import pytest

from berth_monitoring.checks.service import next_slot
from berth_monitoring.checks.state import (
    FLAP_CHANGES,
    FLAP_WINDOW_SECONDS,
    MonitorStatus,
    step,
)
from berth_monitoring.enums import MonitorState as S

T0 = 1_800_000_000


def run(status: MonitorStatus, results: str, *, f: int = 3, s: int = 2, muted: bool = False):
    """Feed results ("x" fail, "o" ok) one a minute; the steps taken."""
    steps = []
    for i, r in enumerate(results):
        taken = step(
            status,
            ok=r == "o",
            now=T0 + 60 * i,
            failure_threshold=f,
            success_threshold=s,
            muted=muted,
        )
        steps.append(taken)
        status = taken.status
    return steps


# (from state, failures so far, successes so far, result) -> (to state, went_down, recovered)
TABLE = [
    (S.UNKNOWN, 0, 0, "o", S.UP, False, False),
    (S.UNKNOWN, 0, 0, "x", S.PENDING, False, False),
    (S.UP, 0, 5, "o", S.UP, False, False),
    (S.UP, 0, 5, "x", S.PENDING, False, False),
    (S.PENDING, 1, 0, "o", S.UP, False, False),
    (S.PENDING, 1, 0, "x", S.PENDING, False, False),
    (S.PENDING, 2, 0, "x", S.DOWN, True, False),
    (S.DOWN, 3, 0, "x", S.DOWN, False, False),
    (S.DOWN, 3, 0, "o", S.RECOVERING, False, False),
    (S.RECOVERING, 0, 1, "o", S.UP, False, True),
    (S.RECOVERING, 0, 1, "x", S.DOWN, False, False),
]


@pytest.mark.parametrize(("start", "fails", "oks", "result", "end", "down", "recovered"), TABLE)
def test_each_state_and_result(start, fails, oks, result, end, down, recovered):
    [taken] = run(MonitorStatus(start, fails, oks), result)
    assert taken.status.state == end
    assert taken.went_down is down
    assert taken.recovered is recovered
    assert taken.changed is (start != end)


def test_one_failure_then_back_never_goes_down():
    steps = run(MonitorStatus(S.UP), "xoxoxxoo")
    assert not any(s.went_down for s in steps)
    assert steps[-1].status.state == S.UP


def test_thresholds_on_both_sides():
    steps = run(MonitorStatus(S.UP), "xxxxoxooo", f=3, s=2)
    assert [s.status.state for s in steps] == [
        S.PENDING, S.PENDING, S.DOWN, S.DOWN, S.RECOVERING, S.DOWN, S.RECOVERING, S.UP, S.UP,
    ]  # fmt: skip
    assert sum(s.went_down for s in steps) == 1
    assert sum(s.recovered for s in steps) == 1


def test_thresholds_of_one_go_straight_through():
    steps = run(MonitorStatus(S.UP), "xo", f=1, s=1)
    assert [s.status.state for s in steps] == [S.DOWN, S.UP]
    assert steps[0].went_down and steps[1].recovered


def test_muted_failures_stop_at_pending_and_count_nothing():
    steps = run(MonitorStatus(S.UP), "xxxxx", f=2, muted=True)
    assert all(s.status.state == S.PENDING for s in steps)
    assert steps[-1].status.consecutive_failures == 0
    # the mute ends while failing: the threshold counts from then
    after = run(steps[-1].status, "xx", f=2)
    assert [s.status.state for s in after] == [S.PENDING, S.DOWN]


def test_muted_down_monitor_still_recovers():
    steps = run(MonitorStatus(S.DOWN, 4, 0), "oo", s=2, muted=True)
    assert steps[-1].status.state == S.UP


def test_flapping_starts_after_enough_changes_and_clears_when_stable():
    steps = run(MonitorStatus(S.UP), "xo" * 3, f=3)
    assert [s.status.flapping for s in steps] == [False] * 5 + [True]
    assert steps[-1].flapping_started
    assert len(steps[-1].status.recent_transitions) == FLAP_CHANGES
    status = steps[-1].status
    # stable for the flap window: the old changes age out and the flag clears once
    later = step(
        status,
        ok=True,
        now=T0 + FLAP_WINDOW_SECONDS + 600,
        failure_threshold=3,
        success_threshold=2,
    )
    assert later.flapping_ended and not later.status.flapping
    assert later.status.recent_transitions == ()


def test_transitions_older_than_the_window_are_forgotten():
    old = MonitorStatus(S.UP, recent_transitions=(T0 - FLAP_WINDOW_SECONDS - 1, T0 - 10))
    taken = step(old, ok=True, now=T0, failure_threshold=3, success_threshold=2)
    assert taken.status.recent_transitions == (T0 - 10,)


def test_the_first_result_is_not_a_flap():
    [taken] = run(MonitorStatus(S.UNKNOWN), "x")
    assert taken.changed and taken.status.recent_transitions == ()


BASE = datetime(2026, 11, 30, 12, 0, 7, tzinfo=UTC)


@pytest.mark.parametrize(
    ("now_after", "expected_after"),
    [
        (timedelta(seconds=0), 20),  # on time
        (timedelta(seconds=3), 20),  # a little late: the phase is kept
        (timedelta(seconds=20), 40),  # exactly one interval late
        (timedelta(seconds=95), 100),  # down a while: the next slot of its phase
        (timedelta(seconds=-5), 20),  # early (a claim just before the slot)
    ],
)
def test_next_slot_keeps_the_phase(now_after, expected_after):
    assert next_slot(BASE, 20, BASE + now_after) == BASE + timedelta(seconds=expected_after)
