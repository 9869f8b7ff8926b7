"""Helpers of the monitoring end-to-end and fault tests: a webhook receiver on 127.0.0.2 that
keeps every alert, monitors that are down from their first check (a port that refuses
connections) alerting it, and monitoring's beat as a process of its own."""

import json
import socket
import threading
import uuid
from collections import defaultdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

from berth_testing.platform import BIN, Platform
from berth_testing.processes import ManagedProcess

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


def refused_port() -> int:
    """A port on 127.0.0.2 nothing listens on: connections to it are refused."""
    with socket.socket() as s:
        s.bind(("127.0.0.2", 0))
        return s.getsockname()[1]


class DownMonitors:
    """A person's webhook channel to `receiver_url`, and `add()`: a new TCP monitor on a
    refused port, attached to it (its first failed check opens an incident and alerts)."""

    def __init__(self, edge: httpx.Client, who, receiver_url: str) -> None:
        self.edge, self.who = edge, who
        self.port = refused_port()
        r = edge.post(
            f"{API}/channels",
            json={"kind": "webhook", "name": "ops", "url": receiver_url},
            headers=who.headers,
        )
        assert r.status_code == 201, r.text
        self.channel = r.json()["id"]

    def add(self) -> str:
        edge, headers = self.edge, self.who.headers
        r = edge.post(
            f"{API}/monitors",
            json={
                "kind": "tcp",
                "name": f"db-{uuid.uuid4().hex[:6]}",
                "host": "127.0.0.2",
                "port": self.port,
                "interval_seconds": 20,  # the shortest the API allows
                "timeout_seconds": 2,
                "failure_threshold": 1,
            },
            headers=headers,
        )
        assert r.status_code == 201, r.text
        monitor = r.json()["id"]
        r = edge.put(
            f"{API}/monitors/{monitor}/channels",
            json={"channel_ids": [self.channel]},
            headers=headers,
        )
        assert r.status_code == 200, r.text
        return monitor


def start_monitoring_beat(platform: Platform, work: Path) -> ManagedProcess:
    """Monitoring's beat (the check runs every 2 s), a process of its own (not the worker's)."""
    return ManagedProcess(
        "monitoring-beat",
        [str(BIN / "celery"), "-A", "berth_monitoring.worker", "beat",
         "--schedule", str(work / "beat-schedule"), "--pidfile="],
        env={**platform.env_for("monitoring"), "MONITORING_CHECK_RUN_SECONDS": "2"},
        log_dir=work,
        cwd=platform.root,
    ).start()  # fmt: skip
