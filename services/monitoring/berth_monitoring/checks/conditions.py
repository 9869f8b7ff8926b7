"""What a successful HTTP answer looks like: status ranges, keyword, JSON path (pure)."""

import json
import re
from typing import Any

from berth_monitoring.enums import ErrorKind

# the monitors API's JSON path grammar: $ then .key, [index] or ["key"] steps
_PATH_STEP = re.compile(r"""\.([A-Za-z_][A-Za-z0-9_-]*)|\[(\d{1,6})\]|\["([^"\\]{1,200})"\]""")
_MISSING = object()


def parse_json_path(path: str) -> list[str | int]:
    text = path.strip()
    if not text.startswith("$"):
        raise ValueError("a JSON path starts with $")
    steps: list[str | int] = []
    at = 1
    while at < len(text):
        found = _PATH_STEP.match(text, at)
        if found is None:
            raise ValueError(f"the JSON path cannot be read at position {at}")
        key, index, quoted = found.groups()
        steps.append(int(index) if index is not None else (key or quoted))
        at = found.end()
    return steps


def json_path_value(document: Any, path: str) -> Any:
    value = document
    for part in parse_json_path(path):
        if isinstance(part, int) and isinstance(value, list) and part < len(value):
            value = value[part]
        elif isinstance(part, str) and isinstance(value, dict) and part in value:
            value = value[part]
        else:
            return _MISSING
    return value


def _as_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))


def judge_http(
    conditions: dict[str, Any], status: int, body: bytes, truncated: bool
) -> tuple[ErrorKind, str] | None:
    """None when every condition holds, else (kind, reason for the user)."""
    ranges = conditions.get("expected_status") or [[200, 399]]
    if not any(low <= status <= high for low, high in ranges):
        wanted = ", ".join(f"{low}-{high}" for low, high in ranges)
        return ErrorKind.STATUS, f"HTTP {status}, expected {wanted}"
    keyword = conditions.get("keyword")
    if keyword:
        text = body.decode("utf-8", errors="replace")
        present = keyword in text
        if conditions.get("keyword_absent") and present:
            return ErrorKind.KEYWORD, f"the keyword {keyword[:80]!r} is present"
        if not conditions.get("keyword_absent") and not present:
            where = " in the first 64 KiB" if truncated else ""
            return ErrorKind.KEYWORD, f"the keyword {keyword[:80]!r} is absent{where}"
    path = conditions.get("json_path")
    if path:
        try:
            document = json.loads(body)
        except ValueError:
            return ErrorKind.JSON_PATH, "the body is not JSON" + (" (cut at 64 KiB)" * truncated)
        value = json_path_value(document, path)
        if value is _MISSING:
            return ErrorKind.JSON_PATH, f"{path[:100]} is not in the answer"
        expected = conditions.get("json_expected")
        if expected is not None and _as_text(value) != expected:
            return ErrorKind.JSON_PATH, (
                f"{path[:100]} is {_as_text(value)[:100]!r}, expected {expected[:100]!r}"
            )
    return None
