"""Loguru, one JSON line per event on stdout, with request/task/user ids bound."""

import json
import logging
import re
import sys
from datetime import UTC, datetime
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
        for name, var in (
            ("request_id", request_id_var),
            ("task_id", task_id_var),
            ("user_id", user_id_var),
        ):
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
        sys.stdout.write(json.dumps(entry, default=str) + "\n")
        sys.stdout.flush()

    return sink


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
