"""Helpers of the frontend's in-process tests."""

import json
import os
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx

from berth_frontend.config import FrontendSettings

CSRF_INPUT = re.compile(r'name="csrf_token" value="([0-9a-f]{64})"')


async def csrf_token(client: httpx.AsyncClient, page: str = "/login") -> str:
    html = (await client.get(page)).text
    found = CSRF_INPUT.search(html)
    assert found, html[:500]
    return found.group(1)


class StandIn:
    """One HTTP server standing in for the services: answers JSON by path, "POST <path>" for a
    POST (and PUT, PATCH, DELETE likewise) (a (status, body) pair, or a function of the query giving one), 404 for
    any other path; records what was asked and the JSON bodies posted."""

    def __init__(self, answers: dict[str, Any]) -> None:
        self.answers = answers
        self.asked: list[str] = []
        self.bodies: list[Any] = []
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self._answer(self.path)

            def do_POST(self) -> None:
                self._with_body("POST")

            def do_PUT(self) -> None:
                self._with_body("PUT")

            def do_PATCH(self) -> None:
                self._with_body("PATCH")

            def do_DELETE(self) -> None:
                self._answer(f"DELETE {self.path}")

            def _with_body(self, method: str) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                if (self.headers.get("Content-Type") or "").startswith("multipart/"):
                    stand_in.bodies.append(raw)  # an upload: kept as sent
                else:
                    stand_in.bodies.append(json.loads(raw or b"null"))
                self._answer(f"{method} {self.path}")

            def _answer(self, asked: str) -> None:
                stand_in.asked.append(asked)
                url = urlsplit(asked)
                answer = stand_in.answers.get(url.path)
                if callable(answer):
                    answer = answer(dict(parse_qsl(url.query)))
                status, payload = (
                    (404, {"error": {"code": "not_found"}}) if answer is None else answer
                )
                body = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"

    def __enter__(self) -> "StandIn":
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def settings_for(public_url: str, down_url: str) -> FrontendSettings:
    """The frontend's settings for `public_url`, every backend at `down_url` (the environment
    is set only while they are read)."""
    values = {
        "FRONTEND_SECRET_KEY": "test-secret-" + "x" * 20,
        "BERTH_PUBLIC_URL": public_url,
        "AUTH_URL": down_url,
        "DEPLOY_URL": down_url,
        "BILLING_URL": down_url,
        "MONITORING_URL": down_url,
        "JWKS_URL": f"{down_url}/.well-known/jwks.json",
        "LOG_LEVEL": "WARNING",
    }
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        return FrontendSettings()
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
