"""The scopes machine clients can be granted: `<service>:<action>`, one catalog for the platform."""

import re

SCOPE_PATTERN = re.compile(r"^[a-z][a-z0-9_-]*:[a-z][a-z0-9_-]*$")

SCOPE_CATALOG: dict[str, str] = {
    "auth:introspect": "Introspect access and refresh tokens (RFC 7662)",
    "auth:read": "Read users and their roles",
    "billing:read": "Read accounts, ledger entries and invoices",
    "billing:write": "Post charges and credits",
    "deploy:read": "Read apps, instances and releases",
    "deploy:write": "Create, start, stop and delete apps",
    "monitoring:read": "Read monitors, check results and incidents",
    "monitoring:write": "Create and change monitors and alert channels",
    "tickets:read": "Read support tickets",
    "tickets:write": "Create and answer support tickets",
    "chat:read": "Read conversations",
    "chat:write": "Post chat messages",
}

INTROSPECT_SCOPE = "auth:introspect"

assert all(SCOPE_PATTERN.match(name) for name in SCOPE_CATALOG)


def parse_scope(value: str | None) -> list[str]:
    """RFC 6749 §3.3: space-delimited, order-insensitive; duplicates collapse."""
    if not value:
        return []
    return sorted(set(value.split()))


def format_scope(scopes: list[str] | set[str] | tuple[str, ...]) -> str:
    return " ".join(sorted(set(scopes)))
