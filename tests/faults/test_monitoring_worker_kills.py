"""The monitoring worker SIGKILLed in a loop while monitors keep being added, each on a port
that refuses connections: every monitor's first failed check opens its incident and owes one
`monitor.down` alert to its webhook channel, in the check batch's transaction (a killed batch
commits nothing and is checked again); the worker delivers it (acknowledged late, so a killed
delivery comes back). Counted per monitor: down alerts never delivered (lost) and down
alerts owed more than once (duplicated: another notification id for the same transition). A
delivery repeated under the same notification id (the worker died after the POST) is what
the receiver's dedupe by `Berth-Event-Id` is for; it is counted and printed too."""

from collections import Counter

import httpx
import pytest
from billing_e2e import sign_in
from monitoring_e2e import DownMonitors
from support import register_and_verify

from berth_testing.faults import (
    SteadyLoad,
    kill_worker_repeatedly,
    lost_and_duplicated,
    record,
    settle,
)

FAULT_SERVICES = ("auth", "monitoring")
FAULT_WORKERS = ("auth", "monitoring")
KILLS = 3


@pytest.mark.timeout(900)
def test_down_monitors_alert_once_across_monitoring_worker_kills(
    fault_platform, receiver, monitoring_beat
):
    plat = fault_platform.platform
    with httpx.Client(base_url=plat.public_url, timeout=30) as edge:
        who = sign_in(edge, register_and_verify(plat, edge))
        monitors = DownMonitors(edge, who, receiver.url)
        with SteadyLoad(monitors.add, pause=1.0) as load:
            kill_worker_repeatedly(plat, "monitoring", KILLS, load)
    assert load.refused == [], load.refused[:5]

    def alerts() -> dict[str, int]:
        found = receiver.down_alerts()
        return {monitor: len(found.get(monitor, ())) for monitor in load.done}

    per_monitor = settle(alerts, "every monitor's down alert delivered")
    lost, duplicated = lost_and_duplicated(per_monitor)
    repeats = sum(n - 1 for n in Counter(e for e, _ in receiver.posts).values() if n > 1)
    record(
        f"monitoring worker kills: {KILLS} SIGKILLs, {len(load.done)} monitors down, "
        f"alerts lost {lost}, duplicated {duplicated}, "
        f"deliveries repeated under the same event id {repeats}"
    )
    assert (lost, duplicated) == (0, 0)
