"""How a ticket's number reads: T-000123 (at least six digits)."""

import re

_NUMBER = re.compile(r"^[Tt]-?(\d{1,18})$")


def display_number(number: int) -> str:
    return f"T-{number:06d}"


def parse_number(text: str) -> int | None:
    """'T-000123', 't123' → 123; anything else → None."""
    found = _NUMBER.match(text.strip())
    return int(found.group(1)) if found else None
