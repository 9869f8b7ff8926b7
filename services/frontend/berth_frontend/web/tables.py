"""Table state in the URL: page, size, sort and filters, validated, passed on to a service's
list endpoint (which does the paging, sorting and filtering) and turned back into links."""

import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

MAX_FILTER = 100
PAGE_SIZES = (10, 20, 50, 100)


def _clean(value: str) -> str:
    text = "".join(ch for ch in value if unicodedata.category(ch) != "Cc").strip()
    return text[:MAX_FILTER]


@dataclass(frozen=True)
class Table:
    page: int
    size: int
    sort: str | None
    filters: dict[str, str]
    sorts: tuple[str, ...] = ()
    default_sort: str | None = None
    extra: dict[str, str] = field(default_factory=dict)

    def api_params(self) -> dict[str, Any]:
        return {"page": self.page, "size": self.size, "sort": self.sort, **self.filters}

    def query(self, **changes: Any) -> dict[str, Any]:
        """The URL query of this table with `changes` applied; a new sort or filter starts
        again at page 1. Defaults are left out, so URLs stay short."""
        state: dict[str, Any] = {
            **self.extra,
            **self.filters,
            "sort": self.sort if self.sort != self.default_sort else None,
            "size": self.size if self.size != 20 else None,
            "page": self.page if self.page != 1 else None,
        }
        if any(k != "page" for k in changes):
            state["page"] = None
        for key, value in changes.items():
            if key == "sort" and value == self.default_sort:
                value = None
            state[key] = value
        return {k: v for k, v in state.items() if v not in (None, "")}

    def sort_for(self, column: str) -> str:
        """The sort a click on `column`'s header asks for: ascending, or flip the current."""
        return f"-{column}" if self.sort == column else column

    def sorted_by(self, column: str) -> str:
        if self.sort == column:
            return "ascending"
        if self.sort == f"-{column}":
            return "descending"
        return "none"


def table_state(
    query: Mapping[str, str],
    *,
    sorts: tuple[str, ...] = (),
    default_sort: str | None = None,
    filters: Mapping[str, tuple[str, ...] | None] = {},
    dates: tuple[str, ...] = (),
) -> Table:
    """`filters`: name -> allowed values (None: free text), passed on to the API as they are;
    `dates`: names of YYYY-MM-DD parameters, kept in the URL for the caller to translate."""
    try:
        page = max(1, min(100_000, int(query.get("page", "1"))))
    except ValueError:
        page = 1
    try:
        size = int(query.get("size", "20"))
    except ValueError:
        size = 20
    if size not in PAGE_SIZES:
        size = 20
    sort = query.get("sort") or default_sort
    if sort is not None and sort.lstrip("-") not in sorts:
        sort = default_sort
    chosen: dict[str, str] = {}
    for name, allowed in filters.items():
        raw = query.get(name)
        if raw is None:
            continue
        value = _clean(raw)
        if not value or (allowed is not None and value not in allowed):
            continue
        chosen[name] = value
    days: dict[str, str] = {}
    for name in dates:
        try:
            days[name] = date.fromisoformat(query.get(name, "")).isoformat()
        except ValueError:
            continue
    return Table(page, size, sort, chosen, sorts, default_sort, days)
