"""Loguru, one JSON line per event on stdout, with request/task/user ids bound."""

import json
import logging
import re
import sys
import threading
from datetime import UTC, datetime
from json.encoder import encode_basestring_ascii as _quoted
from typing import Any

from loguru import logger

from berth_common.context import request_id_var, task_id_var, user_id_var

_SENSITIVE_KEYS = re.compile(
    r"pass(word)?|secret|token|authorization|cookie|api[_-]?key|private|code_hash", re.I
)
_BEARER = re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+")
_JWT = re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]+")


def scrub(value: Any, key: str = "") -> Any:
    """Mask secrets by key name and token-looking strings anywhere."""
    if key and _SENSITIVE_KEYS.search(key):
        return "***"
    if isinstance(value, dict):
        return {k: scrub(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [scrub(v) for v in value]
    if isinstance(value, str):
        return _JWT.sub("***", _BEARER.sub(r"\1***", value))
    return value


_ID_VARS = (("request_id", request_id_var), ("task_id", task_id_var), ("user_id", user_id_var))
# the sink and the access line write whole lines under one lock: threads never interleave them
_WRITE_LOCK = threading.Lock()
# loguru's INFO: the access line is written when the configured level lets INFO through
_INFO = 20


def _write_line(line: str) -> None:
    with _WRITE_LOCK:
        sys.stdout.write(line)
        sys.stdout.flush()


def _json_sink_factory(service: str):
    def sink(message: Any) -> None:
        record = message.record
        entry: dict[str, Any] = {
            "ts": record["time"].astimezone(UTC).isoformat(timespec="milliseconds"),
            "level": record["level"].name,
            "service": service,
            "msg": scrub(record["message"]),
            "logger": record["name"],
        }
        for name, var in _ID_VARS:
            val = record["extra"].get(name) or var.get()
            if val:
                entry[name] = val
        extra = {k: v for k, v in record["extra"].items() if k not in entry}
        if extra:
            entry["extra"] = scrub(extra)
        if record["exception"] is not None:
            exc = record["exception"]
            entry["exception"] = f"{exc.type.__name__ if exc.type else ''}: {exc.value}"
            import traceback

            entry["traceback"] = scrub(
                "".join(traceback.format_exception(exc.type, exc.value, exc.traceback))
            )
        _write_line(json.dumps(entry, default=str) + "\n")

    return sink


class AccessLog:
    """One line per request, the same JSON the sink writes for `logger.info(msg, status=, ms=,
    route=)` (ids included, the message scrubbed), formatted here at once: going through loguru
    (record, frame lookup, handler dispatch, a dict and json.dumps) cost ~140 us a request."""

    def __init__(self) -> None:
        self.enabled = True
        self.json_lines = False  # before configure_logging: through loguru, whatever its sink
        self._head = ""

    def configure(self, service: str, level: str, json_lines: bool) -> None:
        self.enabled = logger.level(level.upper()).no <= _INFO
        self.json_lines = json_lines
        self._head = f'", "level": "INFO", "service": {_quoted(service)}, "msg": '

    def write(self, method: str, path: str, status: int, ms: float, route: str) -> None:
        """The access line of a finished request: method, path (scrubbed), status, duration,
        route, request id and user id."""
        if not self.enabled:
            return
        if not self.json_lines:
            logger.info("{} {} {}", method, path, status, status=status, ms=ms, route=route)
            return
        ids = ""
        for name, var in _ID_VARS:
            value = var.get()
            if value:
                ids += f', "{name}": {_quoted(value)}'
        ts = datetime.now(UTC).isoformat(timespec="milliseconds")
        msg = _quoted(scrub(f"{method} {path} {status}"))
        _write_line(
            f'{{"ts": "{ts}{self._head}{msg}, "logger": "berth_common.app"{ids}, "extra": '
            f'{{"status": {int(status)}, "ms": {float(ms)!r}, "route": {_quoted(route)}}}}}\n'
        )


access_log = AccessLog()


class InterceptHandler(logging.Handler):
    """Route stdlib logging (uvicorn, celery, sqlalchemy) into loguru."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            level: str | int = logger.level(record.levelname).name
        except ValueError:
            level = record.levelno
        logger.opt(depth=6, exception=record.exc_info).log(level, record.getMessage())


def configure_logging(service: str, level: str = "INFO", json_lines: bool = True) -> None:
    logger.remove()
    if json_lines:
        logger.add(_json_sink_factory(service), level=level.upper(), backtrace=False)
    else:
        logger.add(sys.stderr, level=level.upper())
    access_log.configure(service, level, json_lines)
    logging.basicConfig(handlers=[InterceptHandler()], level=level.upper(), force=True)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "celery", "aio_pika", "aiormq"):
        lg = logging.getLogger(name)
        lg.handlers = [InterceptHandler()]
        lg.propagate = False
    # access lines are written by our own middleware with ids bound
    logging.getLogger("uvicorn.access").disabled = True
    logging.getLogger("aiormq").setLevel(logging.WARNING)
    logging.getLogger("aio_pika").setLevel(logging.WARNING)


def now_iso() -> str:
    return datetime.now(UTC).isoformat()
