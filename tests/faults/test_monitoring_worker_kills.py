"""The monitoring worker SIGKILLed in a loop while monitors keep being added, each on a port
that refuses connections: every monitor's first failed check opens its incident and owes one
`monitor.down` alert to its webhook channel, in the check batch's transaction (a killed batch
commits nothing and is checked again); the worker delivers it (acknowledged late, so a killed
delivery comes back). Counted per monitor: down alerts never delivered (lost) and down
alerts owed more than once (duplicated: another notification id for the same transition). A
delivery repeated under the same notification id (the worker died after the POST) is what
the receiver's dedupe by `Berth-Event-Id` is for; it is counted and printed too."""

import json
import socket
import threading
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from billing_e2e import sign_in
from support import register_and_verify

from berth_testing.faults import (
    SteadyLoad,
    kill_worker_repeatedly,
    lost_and_duplicated,
    record,
    settle,
)
from berth_testing.platform import BIN
from berth_testing.processes import ManagedProcess

FAULT_SERVICES = ("auth", "monitoring")
FAULT_WORKERS = ("auth", "monitoring")
KILLS = 3
API = "/api/monitoring/v1"


class Receiver:
    """A webhook endpoint on 127.0.0.2: every POST's event id and body, answered 200."""

    def __init__(self) -> None:
        self.posts: list[tuple[str, dict[str, Any]]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                receiver.posts.append((self.headers["Berth-Event-Id"], json.loads(body)))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.2", 0), Handler)
        self.url = f"http://127.0.0.2:{self.server.server_address[1]}/alerts"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def down_alerts(self) -> dict[str, set[str]]:
        """Each monitor's distinct notification ids of its down alerts."""
        found: dict[str, set[str]] = defaultdict(set)
        for event_id, event in list(self.posts):
            if event["type"] == "monitor.down":
                found[event["data"]["monitor"]["id"]].add(event_id)
        return found


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.server.shutdown()
    r.server.server_close()


def refused_port() -> int:
    """A port on 127.0.0.2 nothing listens on: connections to it are refused."""
    with socket.socket() as s:
        s.bind(("127.0.0.2", 0))
        return s.getsockname()[1]


@pytest.fixture
def beat(fault_platform, tmp_path) -> Iterator[ManagedProcess]:
    """Monitoring's beat (the check runs every 2 s), a process of its own: the kills are the
    worker's."""
    plat = fault_platform.platform
    proc = ManagedProcess(
        "monitoring-beat",
        [str(BIN / "celery"), "-A", "berth_monitoring.worker", "beat",
         "--schedule", str(tmp_path / "beat-schedule"), "--pidfile="],
        env={**plat.env_for("monitoring"), "MONITORING_CHECK_RUN_SECONDS": "2"},
        log_dir=tmp_path,
        cwd=plat.root,
    ).start()  # fmt: skip
    yield proc
    proc.stop()


@pytest.mark.timeout(900)
def test_down_monitors_alert_once_across_monitoring_worker_kills(fault_platform, receiver, beat):
    plat = fault_platform.platform
    port = refused_port()
    with httpx.Client(base_url=plat.public_url, timeout=30) as edge:
        who = sign_in(edge, register_and_verify(plat, edge))
        r = edge.post(
            f"{API}/channels",
            json={"kind": "webhook", "name": "ops", "url": receiver.url},
            headers=who.headers,
        )
        assert r.status_code == 201, r.text
        channel = r.json()["id"]

        def add_monitor() -> str:
            r = edge.post(
                f"{API}/monitors",
                json={
                    "kind": "tcp",
                    "name": f"db-{uuid.uuid4().hex[:6]}",
                    "host": "127.0.0.2",
                    "port": port,
                    "interval_seconds": 20,  # the shortest the API allows
                    "timeout_seconds": 2,
                    "failure_threshold": 1,
                },
                headers=who.headers,
            )
            assert r.status_code == 201, r.text
            monitor = r.json()["id"]
            r = edge.put(
                f"{API}/monitors/{monitor}/channels",
                json={"channel_ids": [channel]},
                headers=who.headers,
            )
            assert r.status_code == 200, r.text
            return monitor

        with SteadyLoad(add_monitor, pause=1.0) as load:
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
