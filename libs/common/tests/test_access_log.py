"""The access line each request writes: complete (method, path, status, duration, route,
request id, user id), the same JSON as any other log line, never a secret, and absent when the
configured level is above INFO."""

import io
import json
import sys

from fastapi import APIRouter
from httpx import ASGITransport, AsyncClient
from loguru import logger

from berth_common.app import create_service_app
from berth_common.config import ServiceSettings
from berth_common.context import request_id_var, user_id_var
from berth_common.logging import configure_logging

TOKEN = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJlLXNpZ25hdHVyZQ"


def _app(level: str):
    router = APIRouter()

    @router.get("/things/{name}")
    async def thing(name: str) -> dict[str, str]:
        user_id_var.set("user-42")
        return {"name": name}

    return create_service_app(
        ServiceSettings(service_name="demo", log_level=level, log_json=True),
        title="demo",
        routers=[router],
    )


async def _lines(monkeypatch, level: str, path: str, headers: dict[str, str]) -> list[dict]:
    out = io.StringIO()
    monkeypatch.setattr(sys, "stdout", out)
    app = _app(level)
    async with AsyncClient(transport=ASGITransport(app=app), base_url="http://demo") as client:
        response = await client.get(path, headers=headers)
    assert response.status_code in (200, 404)
    return [json.loads(line) for line in out.getvalue().splitlines()]


async def test_the_access_line_names_the_request_and_who_made_it(monkeypatch):
    lines = await _lines(monkeypatch, "INFO", "/things/lamp?x=1", {"X-Request-Id": "req-1.a"})

    (line,) = [entry for entry in lines if entry["msg"].startswith("GET ")]
    assert line["msg"] == "GET /things/lamp 200"
    assert line["level"] == "INFO"
    assert line["service"] == "demo"
    assert line["logger"] == "berth_common.app"
    assert line["request_id"] == "req-1.a"
    assert line["user_id"] == "user-42"
    assert line["extra"]["status"] == 200
    assert line["extra"]["route"] == "/things/{name}"
    assert isinstance(line["extra"]["ms"], float) and line["extra"]["ms"] >= 0
    assert line["ts"].endswith("+00:00")


async def test_the_access_line_has_the_shape_of_every_other_line(monkeypatch):
    out = io.StringIO()
    monkeypatch.setattr(sys, "stdout", out)
    configure_logging("demo", "INFO", json_lines=True)
    request = request_id_var.set("req-2")
    logger.info("{} {} {}", "GET", "/x", 404, status=404, ms=1.5, route="unmatched")
    request_id_var.reset(request)
    through_loguru = json.loads(out.getvalue())

    lines = await _lines(monkeypatch, "INFO", "/x", {})

    (line,) = [entry for entry in lines if entry["msg"].startswith("GET ")]
    assert list(line) == list(through_loguru)
    assert line["msg"] == through_loguru["msg"] == "GET /x 404"
    assert line["extra"] == {**through_loguru["extra"], "ms": line["extra"]["ms"]}


async def test_a_token_in_the_path_never_reaches_the_log(monkeypatch):
    lines = await _lines(monkeypatch, "INFO", f"/things/{TOKEN}", {"Authorization": TOKEN})

    (line,) = [entry for entry in lines if entry["msg"].startswith("GET ")]
    assert line["msg"] == "GET /things/*** 200"
    assert "eyJ" not in json.dumps(lines)


async def test_above_info_no_access_line_is_written(monkeypatch):
    lines = await _lines(monkeypatch, "WARNING", "/things/lamp", {})

    assert [entry for entry in lines if entry["msg"].startswith("GET ")] == []
