"""Dev secrets: generated once into var/dev-secrets.env (mode 0600) and reused afterwards."""

import base64
import json
import os
import secrets
import shlex
from collections.abc import Callable, Iterable
from pathlib import Path

from joserfc.jwk import ECKey

ADMIN_EMAIL = "admin@berth.localhost"

#: Keys whose values are never printed unless asked for (`env --show-secrets`).
SECRET_KEYS = frozenset(
    {
        "POSTGRES_PASSWORD",
        "AUTH_JWT_PRIVATE_JWKS",
        "AUTH_SECRET_KEY",
        "AUTH_BOOTSTRAP_ADMIN_PASSWORD",
        "DEPLOY_ENV_ENCRYPTION_KEY",
        "BILLING_WEBHOOK_SECRET",
        "FRONTEND_SECRET_KEY",
        "BILLING_CLIENT_SECRET",
        "DEPLOY_CLIENT_SECRET",
        "MONITORING_CLIENT_SECRET",
        "MONITORING_CHANNEL_ENCRYPTION_KEY",
        "TICKETS_CLIENT_SECRET",
        "CHAT_CLIENT_SECRET",
        "TICKETS_REPLY_SECRET",
        "AUTH_SERVICE_CLIENTS",
    }
)

#: The platform services' own machine clients and the scopes each needs of the others.
SERVICE_CLIENT_SCOPES = {
    "BILLING": ["auth:read", "deploy:read"],
    "DEPLOY": ["auth:read", "billing:read"],
    "MONITORING": ["auth:read", "deploy:read"],
    "TICKETS": ["auth:read", "deploy:read", "billing:read", "monitoring:read"],
    "CHAT": ["auth:read", "deploy:read", "tickets:write"],
}


def service_clients_json(values: dict[str, str]) -> str:
    """AUTH_SERVICE_CLIENTS for auth's bootstrap, from <SVC>_CLIENT_ID / _SECRET."""
    specs = [
        {
            "client_id": values[f"{svc}_CLIENT_ID"],
            "secret": values[f"{svc}_CLIENT_SECRET"],
            "scopes": scopes,
        }
        for svc, scopes in SERVICE_CLIENT_SCOPES.items()
        if values.get(f"{svc}_CLIENT_ID") and values.get(f"{svc}_CLIENT_SECRET")
    ]
    return json.dumps(specs, separators=(",", ":"))


def private_jwks() -> str:
    """A JWK Set with one private EC P-256 signing key (ES256), kid = RFC 7638 thumbprint."""
    key = ECKey.generate_key("P-256", auto_kid=True)
    jwk = {**key.as_dict(private=True), "alg": "ES256", "use": "sig"}
    return json.dumps({"keys": [jwk]}, separators=(",", ":"))


def database_password_keys(schemas: Iterable[str]) -> list[str]:
    """The embedded PostgreSQL's role passwords: a runtime and an owner role per schema."""
    return [
        key
        for schema in schemas
        for key in (f"{schema.upper()}_DB_PASSWORD", f"{schema.upper()}_DB_OWNER_PASSWORD")
    ]


def database_password() -> str:
    return secrets.token_urlsafe(24)  # URL-safe: it goes into database URLs as is


GENERATORS: dict[str, Callable[[], str]] = {
    # the embedded PostgreSQL's superuser: the dev runner's own set-up only
    "POSTGRES_PASSWORD": database_password,
    "AUTH_JWT_PRIVATE_JWKS": private_jwks,
    "AUTH_SECRET_KEY": lambda: secrets.token_hex(32),
    "AUTH_BOOTSTRAP_ADMIN_EMAIL": lambda: ADMIN_EMAIL,
    "AUTH_BOOTSTRAP_ADMIN_PASSWORD": lambda: secrets.token_urlsafe(18),
    # a Fernet key (url-safe base64 of 32 bytes) for app env vars at rest
    "DEPLOY_ENV_ENCRYPTION_KEY": lambda: base64.urlsafe_b64encode(os.urandom(32)).decode(),
    "BILLING_WEBHOOK_SECRET": lambda: secrets.token_hex(32),
    "FRONTEND_SECRET_KEY": lambda: secrets.token_hex(32),
    "BILLING_CLIENT_SECRET": lambda: secrets.token_urlsafe(32),
    "DEPLOY_CLIENT_SECRET": lambda: secrets.token_urlsafe(32),
    "MONITORING_CLIENT_SECRET": lambda: secrets.token_urlsafe(32),
    "TICKETS_CLIENT_SECRET": lambda: secrets.token_urlsafe(32),
    "CHAT_CLIENT_SECRET": lambda: secrets.token_urlsafe(32),
    # signs the per-ticket reply addresses (reply+<token>@TICKETS_REPLY_DOMAIN)
    "TICKETS_REPLY_SECRET": lambda: secrets.token_urlsafe(32),
    # a Fernet key for alert channels' webhook secrets and bot tokens at rest
    "MONITORING_CHANNEL_ENCRYPTION_KEY": lambda: base64.urlsafe_b64encode(os.urandom(32)).decode(),
}


def read_env_file(path: Path) -> dict[str, str]:
    """KEY=VALUE lines with shell quoting (blank lines and # comments skipped)."""
    values: dict[str, str] = {}
    if not path.is_file():
        return values
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        if line.startswith("export "):
            line = line[len("export ") :]
        key, _, raw = line.partition("=")
        parts = shlex.split(raw) if raw.strip() else [""]
        values[key.strip()] = parts[0] if len(parts) == 1 else " ".join(parts)
    return values


def write_env_file(path: Path, values: dict[str, str], header: str) -> None:
    """Write atomically, readable by the owner only."""
    lines = [f"# {line}" for line in header.splitlines()]
    lines += [f"{key}={shlex.quote(value)}" for key, value in values.items()]
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write("\n".join(lines) + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def load_or_create(
    path: Path, password_keys: Iterable[str] = ()
) -> tuple[dict[str, str], list[str]]:
    """The dev secrets, generating the missing ones (and a password for each of
    password_keys); returns (values, keys generated now)."""
    values = read_env_file(path)
    generators = {**GENERATORS, **dict.fromkeys(password_keys, database_password)}
    generated = [key for key in generators if not values.get(key)]
    for key in generated:
        values[key] = generators[key]()
    if generated:
        write_env_file(
            path,
            values,
            "Berth dev secrets, generated by berth_devrun for `make run` only.\n"
            "Delete this file to rotate them; environment variables override them.",
        )
    elif path.stat().st_mode & 0o077:
        path.chmod(0o600)
    return values, generated
