"""Helpers of the chat end-to-end and fault tests: an ai-agent app to deploy (it streams its
answer over SSE), a customer's side of an agent conversation through Traefik (open, say,
read, and a WebSocket listener that keeps every frame), chat sockets through Traefik that
remember what they saw, and a second chat web replica behind Traefik."""

import json
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import yaml
from websockets.exceptions import InvalidStatus
from websockets.sync.client import ClientConnection, connect

from berth_testing.platform import uvicorn_argv
from berth_testing.processes import ManagedProcess, free_port

API = "/api/chat/v1"

AGENT = """
import json, os, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

class Agent(BaseHTTPRequestHandler):
    def do_POST(self):
        request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        words = ["You ", "said: ", request["message"]]
        if "text/event-stream" not in self.headers.get("Accept", ""):
            body = json.dumps({"reply": "".join(words)}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.end_headers()
        slow = request["message"].startswith("slow")
        for n, word in enumerate(words):
            self.wfile.write(("data: " + json.dumps({"delta": word}) + "\\n\\n").encode())
            self.wfile.flush()
            time.sleep(6 if slow and n == 0 else 0.3)
        self.wfile.write(b"event: done\\ndata: {}\\n\\n")
        self.wfile.flush()

ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), Agent).serve_forever()
"""


def open_chat(edge, who, app) -> dict:
    r = edge.post(f"{API}/agent-conversations", json={"app_id": app["id"]}, headers=who.headers)
    assert r.status_code == 201, r.text
    return r.json()


def say(edge, who, chat, body) -> dict:
    r = edge.post(
        f"{API}/conversations/{chat['id']}/messages",
        json={"body": body, "client_msg_id": uuid.uuid4().hex},
        headers=who.headers,
    )
    assert r.status_code == 200, r.text
    return r.json()


def messages(edge, who, chat) -> list[dict]:
    r = edge.get(f"{API}/agent-conversations/{chat['id']}/messages", headers=who.headers)
    assert r.status_code == 200, r.text
    return r.json()


class Listener(threading.Thread):
    """A WebSocket through Traefik subscribed to the conversation, keeping every frame."""

    def __init__(self, platform, who, chat):
        super().__init__(daemon=True)
        url = platform.public_url.replace("http://", "ws://") + f"{API}/ws"
        self.connection = connect(url, additional_headers=who.headers, open_timeout=10)
        self.socket = self.connection.__enter__()
        self.socket.send(
            json.dumps({"type": "subscribe", "conversation_id": chat["id"], "after_seq": 0})
        )
        self.frames: list[dict] = []

    def run(self):
        try:
            for raw in self.socket:
                frame = json.loads(raw)
                if frame["type"] == "ping":  # as a client does, or the server hangs up
                    self.socket.send(json.dumps({"type": "pong"}))
                self.frames.append(frame)
        except Exception:  # closed at the end of the test
            return

    def messages(self) -> list[dict]:
        """Every message the frames so far carried (new ones and updates)."""
        return [f["message"] for f in list(self.frames) if "message" in f]

    def close(self):
        self.connection.__exit__(None, None, None)


class Client:
    """A chat socket through Traefik that remembers every message it saw (by seq)."""

    def __init__(self, ws: ClientConnection, replica: str):
        self.ws = ws
        self.replica = replica
        self.seen: list[dict] = []

    def send(self, **frame) -> None:
        self.ws.send(json.dumps(frame))

    def next(self, kind: str, timeout: float = 10.0) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            frame = json.loads(self.ws.recv(timeout=max(0.1, deadline - time.monotonic())))
            if frame["type"] == "message":
                self.seen.append(frame["message"])
            if frame["type"] == kind:
                return frame

    def messages_until(self, seq: int, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while not self.seen or self.seen[-1]["seq"] < seq:
            self.next("message", max(0.1, deadline - time.monotonic()))

    @property
    def seqs(self) -> list[int]:
        return [m["seq"] for m in self.seen]


def ws_url(platform) -> str:
    return platform.public_url.replace("http://", "ws://", 1).rstrip("/") + f"{API}/ws"


def open_socket(platform, token: str, *, on: str | None = None, tries: int = 40) -> Client:
    """A socket through Traefik; with `on`, reconnect until it lands on that replica."""
    last_error: Exception | None = None
    for _ in range(tries):
        try:
            ws = connect(
                ws_url(platform),
                additional_headers={"Authorization": f"Bearer {token}"},
                proxy=None,
                open_timeout=10,
                legacy=True,
            )
        except (InvalidStatus, OSError) as exc:  # a dead replica before Traefik notices
            last_error = exc
            time.sleep(0.25)
            continue
        hello = json.loads(ws.recv(timeout=10))
        assert hello["type"] == "hello"
        if on is None or hello["replica"] == on:
            return Client(ws, hello["replica"])
        ws.close()
    raise AssertionError(f"no socket on replica {on}: {last_error!r}")


@contextmanager
def second_chat_replica(platform, token: str) -> Iterator[tuple[ManagedProcess, dict[str, str]]]:
    """A second chat web process and a Traefik route over both (health-checked), once both
    answer through Traefik: (its process, each process's replica id by name: "chat",
    "chat-2"). `token`: anyone's, for the sockets that find the replicas."""
    port = free_port()
    second = platform._start(
        "chat-2",
        uvicorn_argv("chat", port),
        f"http://127.0.0.1:{port}/health",
    )
    dynamic = platform.dynamic_dir / "chat-replicas.yml"
    dynamic.write_text(
        yaml.safe_dump(
            {
                "http": {
                    "routers": {
                        "chat-replicas": {
                            "entryPoints": ["web"],
                            "rule": platform.platform_rule("PathPrefix(`/api/chat/`)"),
                            "priority": 100000,
                            "middlewares": ["berth-auth", "berth-api-body-limit"],
                            "service": "chat-replicas",
                        }
                    },
                    "services": {
                        "chat-replicas": {
                            "loadBalancer": {
                                "servers": [
                                    {"url": platform.url("chat")},
                                    {"url": f"http://127.0.0.1:{port}"},
                                ],
                                "healthcheck": {
                                    "path": "/health",
                                    "interval": "1s",
                                    "timeout": "1s",
                                },
                            }
                        }
                    },
                }
            }
        )
    )
    try:
        # Traefik reads the file a moment later: wait until both replicas answer through it
        found: set[str] = set()
        deadline = time.monotonic() + 40
        while len(found) < 2 and time.monotonic() < deadline:
            client = open_socket(platform, token)
            found.add(client.replica)
            client.ws.close()
        assert len(found) == 2, "Traefik does not balance over the two chat replicas"
        # a replica id is host.pid.random: which process is which
        by_pid = {r.rsplit(".", 2)[1]: r for r in found}
        ids = {
            "chat": by_pid[str(platform.processes["chat"].pid)],
            "chat-2": by_pid[str(second.pid)],
        }
        yield second, ids
    finally:
        dynamic.unlink(missing_ok=True)
        second.stop()
        platform.processes.pop("chat-2", None)
