"""The monitor state machine, as pure functions (no I/O): hysteresis on both sides and flaps.

    unknown/up --fail--> pending --failure_threshold fails in a row--> down
    pending --ok--> up            down --ok--> recovering --success_threshold oks--> up
    recovering --fail--> down

A failure while muted (a deploy, a maintenance window) moves an up monitor to pending but
never further, and does not count towards the threshold: when the mute ends with the target
still failing, the normal thresholds apply from then. Successes count as usual.

Every state change is remembered (epoch seconds) for `FLAP_WINDOW_SECONDS`; `FLAP_CHANGES`
changes in that window mark the monitor flapping, and it stays so until the window holds at
most `FLAP_CLEAR_CHANGES` (hysteresis again, so a flapping flag does not flap itself).
What a transition pages is decided by the checker (checks/service.py), not here.
"""

from dataclasses import dataclass, replace

from berth_monitoring.enums import MonitorState

FLAP_WINDOW_SECONDS = 30 * 60
FLAP_CHANGES = 6
FLAP_CLEAR_CHANGES = 2


@dataclass(frozen=True)
class MonitorStatus:
    state: MonitorState
    consecutive_failures: int = 0
    consecutive_successes: int = 0
    recent_transitions: tuple[int, ...] = ()
    flapping: bool = False


@dataclass(frozen=True)
class Step:
    status: MonitorStatus
    changed: bool  # the state changed
    went_down: bool  # entered DOWN (pending/up/unknown → down)
    recovered: bool  # entered UP from down or recovering
    flapping_started: bool
    flapping_ended: bool


def _next_state(
    status: MonitorStatus, ok: bool, failure_threshold: int, success_threshold: int, muted: bool
) -> tuple[MonitorState, int, int]:
    state = status.state
    if ok:
        successes = status.consecutive_successes + 1
        if state in (MonitorState.DOWN, MonitorState.RECOVERING):
            if successes >= success_threshold:
                return MonitorState.UP, 0, successes
            return MonitorState.RECOVERING, 0, successes
        return MonitorState.UP, 0, successes
    if state in (MonitorState.DOWN, MonitorState.RECOVERING):
        return MonitorState.DOWN, status.consecutive_failures + 1, 0
    if muted:
        return MonitorState.PENDING, 0, 0
    failures = status.consecutive_failures + 1
    if failures >= failure_threshold:
        return MonitorState.DOWN, failures, 0
    return MonitorState.PENDING, failures, 0


def step(
    status: MonitorStatus,
    *,
    ok: bool,
    now: int,
    failure_threshold: int,
    success_threshold: int,
    muted: bool = False,
) -> Step:
    """The status after one result at epoch second `now`."""
    state, failures, successes = _next_state(
        status, ok, failure_threshold, success_threshold, muted
    )
    changed = state != status.state
    horizon = now - FLAP_WINDOW_SECONDS
    transitions = tuple(t for t in status.recent_transitions if t > horizon)
    # the first result (unknown → up/pending) is not a change anyone could call a flap
    if changed and status.state != MonitorState.UNKNOWN:
        transitions = (*transitions, now)
    if status.flapping:
        flapping = len(transitions) > FLAP_CLEAR_CHANGES
    else:
        flapping = len(transitions) >= FLAP_CHANGES
    new = replace(
        status,
        state=state,
        consecutive_failures=failures,
        consecutive_successes=successes,
        recent_transitions=transitions,
        flapping=flapping,
    )
    return Step(
        status=new,
        changed=changed,
        went_down=changed
        and state == MonitorState.DOWN
        and status.state != MonitorState.RECOVERING,
        recovered=changed
        and state == MonitorState.UP
        and status.state in (MonitorState.DOWN, MonitorState.RECOVERING),
        flapping_started=flapping and not status.flapping,
        flapping_ended=status.flapping and not flapping,
    )
