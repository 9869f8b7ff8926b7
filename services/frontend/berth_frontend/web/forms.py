"""Reading HTML forms: bounded text fields, and errors keyed by field for re-rendering."""

import unicodedata
from dataclasses import dataclass, field
from typing import Any

from fastapi import Request

from berth_frontend.web.backends import ApiError

MAX_FIELD = 4096


@dataclass
class FormData:
    values: dict[str, str]
    lists: dict[str, list[str]] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)

    def getlist(self, name: str) -> list[str]:
        return list(self.lists.get(name, []))

    def get(self, name: str, default: str = "") -> str:
        return self.values.get(name, default)

    def require(self, name: str, message: str = "This field is required.") -> str:
        value = self.get(name)
        if not value:
            self.errors.setdefault(name, message)
        return value

    def absorb(self, exc: ApiError, fields: dict[str, str] | None = None) -> None:
        """Put a service's refusal next to the right input (or on the form as a whole).
        `fields` maps the service's field names to the form's, where they differ."""
        fields = fields or {}
        found = exc.field_errors()
        for name, message in found.items():
            self.errors.setdefault(fields.get(name, name), message)
        if not found:
            self.errors.setdefault("_", exc.message)

    @property
    def ok(self) -> bool:
        return not self.errors

    def context(self) -> dict[str, Any]:
        # passwords are never sent back into the page
        shown = {k: v for k, v in self.values.items() if "password" not in k and k != "code"}
        return {"form": shown, "errors": self.errors}


def _clean(value: str, keep_newlines: bool) -> str:
    allowed = "\n\r\t" if keep_newlines else ""
    return "".join(ch for ch in value if ch in allowed or unicodedata.category(ch) != "Cc").strip()


async def read_form(
    request: Request, *, multiline: tuple[str, ...] = (), raw: tuple[str, ...] = ()
) -> FormData:
    """The submitted text fields, control characters removed (passwords: `raw`, untouched)."""
    form = await request.form()
    values: dict[str, str] = {}
    lists: dict[str, list[str]] = {}
    for key, value in form.multi_items():
        if not isinstance(value, str) or key == "csrf_token":
            continue
        value = value[:MAX_FIELD]
        if key not in raw:
            value = _clean(value, key in multiline)
        lists.setdefault(key, []).append(value)
        values[key] = value
    return FormData(values, lists)
