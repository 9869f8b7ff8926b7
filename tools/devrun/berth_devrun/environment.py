"""Resolve the platform's environment (the env contract every service codes against).

Precedence, lowest first: built-in dev defaults < var/dev-secrets.env < ./.env < the real
environment. Whatever a developer exports wins (12-factor); the runner only fills the gaps.

The database is the exception to "one environment for every process": with the embedded
server each service's processes get DATABASE_URL of that service's own runtime role, and its
migrations MIGRATION_DATABASE_URL of its owner role (berth_common.dbroles); the superuser's
URL stays with the runner. A DATABASE_URL set by the developer is used by every process.
"""

import logging
import os
import socket
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from berth_common.dbroles import ServiceRoles, owner_url, runtime_url, service_roles

from . import devsecrets
from .layout import Layout
from .postgres import DATABASE, EmbeddedPostgres, admin_url

log = logging.getLogger("berth_devrun")

AMQP_LOCAL = "amqp://guest:guest@127.0.0.1:5672//"
SMTP_SINK_PORT = "2525"

#: The contract (plus MAILSINK_DIR), in the order `env` prints it.
ENV_KEYS = (
    "DATABASE_URL",
    "BROKER_URL",
    "BROKER_FILESYSTEM_DIR",
    "SMTP_HOST",
    "SMTP_PORT",
    "SMTP_FROM",
    "BERTH_PUBLIC_URL",
    "AUTH_URL",
    "GATEWAY_URL",
    "JWKS_URL",
    "AUTH_JWT_PRIVATE_JWKS",
    "AUTH_SECRET_KEY",
    "AUTH_BOOTSTRAP_ADMIN_EMAIL",
    "AUTH_BOOTSTRAP_ADMIN_PASSWORD",
    "LOG_LEVEL",
    "MAILSINK_DIR",
    "BILLING_URL",
    "DEPLOY_URL",
    "MONITORING_URL",
    "TICKETS_URL",
    "CHAT_URL",
    "FRONTEND_URL",
    "APPS_DOMAIN",
    "TRAEFIK_DYNAMIC_DIR",
    "DEPLOY_DATA_DIR",
    "TICKETS_ATTACHMENTS_DIR",
    "DEPLOY_ENV_ENCRYPTION_KEY",
    "BILLING_WEBHOOK_SECRET",
    "FRONTEND_SECRET_KEY",
    "BILLING_CLIENT_ID",
    "BILLING_CLIENT_SECRET",
    "DEPLOY_CLIENT_ID",
    "DEPLOY_CLIENT_SECRET",
    "MONITORING_CLIENT_ID",
    "MONITORING_CLIENT_SECRET",
    "MONITORING_CHANNEL_ENCRYPTION_KEY",
    "TICKETS_CLIENT_ID",
    "TICKETS_CLIENT_SECRET",
    "CHAT_CLIENT_ID",
    "CHAT_CLIENT_SECRET",
    "TICKETS_REPLY_SECRET",
    "TICKETS_REPLY_DOMAIN",
    "TICKETS_INBOUND_PORT",
    "AUTH_SERVICE_CLIENTS",
)

DEFAULTS = {
    "SMTP_FROM": "Berth <no-reply@berth.localhost>",
    "BERTH_PUBLIC_URL": "http://localhost:8080",
    "AUTH_URL": "http://127.0.0.1:8101",
    "GATEWAY_URL": "http://127.0.0.1:8100",
    "BILLING_URL": "http://127.0.0.1:8102",
    "DEPLOY_URL": "http://127.0.0.1:8103",
    "MONITORING_URL": "http://127.0.0.1:8104",
    "TICKETS_URL": "http://127.0.0.1:8105",
    "CHAT_URL": "http://127.0.0.1:8106",
    "FRONTEND_URL": "http://127.0.0.1:8107",
    "APPS_DOMAIN": "apps.localhost",
    "BILLING_CLIENT_ID": "svc-billing",
    "DEPLOY_CLIENT_ID": "svc-deploy",
    "MONITORING_CLIENT_ID": "svc-monitoring",
    "TICKETS_CLIENT_ID": "svc-tickets",
    "CHAT_CLIENT_ID": "svc-chat",
    "TICKETS_REPLY_DOMAIN": "reply.berth.localhost",
    "TICKETS_INBOUND_PORT": "2526",
    "LOG_LEVEL": "INFO",
}


@dataclass
class Resolved:
    values: dict[str, str]
    database: str  # "embedded" | "external"
    broker: str  # "amqp-local" | "filesystem" | "external"
    mail_sink: bool  # True when SMTP goes to the local sink process
    generated_secrets: list[str] = field(default_factory=list)
    #: other ./.env entries (service knobs such as AUTH_ACCESS_TOKEN_EXPIRE_MINUTES)
    dotenv_extra: dict[str, str] = field(default_factory=dict)
    #: embedded database: the superuser's URL and password (the runner's set-up only) and
    #: the roles of each service schema
    database_admin_url: str | None = None
    superuser_password: str | None = None
    database_roles: dict[str, ServiceRoles] = field(default_factory=dict)

    def database_env(self, service: str, *, migration: bool = False) -> dict[str, str]:
        """DATABASE_URL of one service's processes (and MIGRATION_DATABASE_URL for its
        migrations): its own roles on the embedded server; nothing for a service without a
        schema, and nothing with an external DATABASE_URL (process_env has that one)."""
        roles = self.database_roles.get(service)
        if roles is None or self.database_admin_url is None:
            return {}
        env = {"DATABASE_URL": runtime_url(self.database_admin_url, roles)}
        if migration:
            env["MIGRATION_DATABASE_URL"] = owner_url(self.database_admin_url, roles)
        return env

    def process_env(self, layout: Layout) -> dict[str, str]:
        """./.env extras < os.environ < the contract: for Procfile processes and migrations."""
        env = {**self.dotenv_extra, **os.environ, **self.values}
        venv_bin = str(Path(sys.executable).parent)  # traefik, uvicorn, celery live here
        if venv_bin not in env.get("PATH", "").split(os.pathsep):
            env["PATH"] = os.pathsep.join(filter(None, [venv_bin, env.get("PATH")]))
        env.setdefault("PYTHONUNBUFFERED", "1")  # lines reach honcho as they are written
        env["BERTH_ROOT"] = str(layout.root)
        return env


def amqp_answers(host: str = "127.0.0.1", port: int = 5672, timeout: float = 1.0) -> bool:
    """True when an AMQP 0-9-1 broker answers the protocol header with Connection.Start."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.settimeout(timeout)
            sock.sendall(b"AMQP\x00\x00\x09\x01")
            frame = sock.recv(7)
    except OSError:
        return False
    return frame[:3] == b"\x01\x00\x00"  # method frame on channel 0


def prepare_filesystem_broker(directory: Path) -> None:
    # The layout berth_common.broker.filesystem_transport_options uses: one folder that both
    # publishers and workers read and write (kombu's data_folder_in == data_folder_out),
    # processed messages, and kombu's control folder for exchange bindings.
    for sub in ("queue", "processed", "control"):
        (directory / sub).mkdir(parents=True, exist_ok=True)


def resolve(
    layout: Layout,
    environ: Mapping[str, str] | None = None,
    *,
    pg: EmbeddedPostgres | None = None,
) -> Resolved:
    """The full environment; with no DATABASE_URL the embedded server's URL (pg.port)."""
    environ = os.environ if environ is None else environ
    schemas = database_schemas(layout)
    secrets, generated = devsecrets.load_or_create(
        layout.secrets_file, devsecrets.database_password_keys(schemas)
    )
    dotenv = devsecrets.read_env_file(layout.root / ".env")

    values: dict[str, str] = {**DEFAULTS, **secrets, **dotenv}
    values.update({key: environ[key] for key in ENV_KEYS if environ.get(key)})
    values.setdefault("JWKS_URL", values["AUTH_URL"].rstrip("/") + "/.well-known/jwks.json")

    database, admin, roles = "external", None, {}
    if not values.get("DATABASE_URL"):
        database = "embedded"
        pg = pg or EmbeddedPostgres(layout)
        admin = admin_url(pg.port or pg.planned_port(), secrets["POSTGRES_PASSWORD"])
        roles = _embedded_roles(schemas, secrets)
    broker = _choose_broker(values, layout)
    mail_sink = _choose_mail(values, layout)
    for key, default in (
        ("TRAEFIK_DYNAMIC_DIR", layout.root / "var" / "traefik" / "dynamic"),
        ("DEPLOY_DATA_DIR", layout.root / "var" / "deploy"),
        ("TICKETS_ATTACHMENTS_DIR", layout.root / "var" / "tickets" / "attachments"),
    ):
        values[key] = _absolute(layout, values.get(key) or default)
    values.setdefault("AUTH_SERVICE_CLIENTS", devsecrets.service_clients_json(values))

    ordered = {key: values[key] for key in ENV_KEYS if key in values}
    extra = {key: environ.get(key, value) for key, value in dotenv.items() if key not in ENV_KEYS}
    return Resolved(
        ordered,
        database,
        broker,
        mail_sink,
        generated,
        extra,
        database_admin_url=admin,
        superuser_password=secrets["POSTGRES_PASSWORD"] if admin else None,
        database_roles=roles,
    )


def _absolute(layout: Layout, path: str | Path) -> str:
    """A configured path, relative ones taken from the repository root."""
    path = Path(path)
    return str(path if path.is_absolute() else layout.root / path)


def _embedded_roles(schemas: list[str], secrets: Mapping[str, str]) -> dict:
    """Per schema, the owner and runtime roles the embedded server is given."""
    return {
        schema: service_roles(
            DATABASE,
            schema,
            owner_password=secrets[f"{schema.upper()}_DB_OWNER_PASSWORD"],
            runtime_password=secrets[f"{schema.upper()}_DB_PASSWORD"],
        )
        for schema in schemas
    }


def _choose_broker(values: dict[str, str], layout: Layout) -> str:
    """The configured broker, else RabbitMQ on localhost if it answers, else the filesystem
    transport in var/; says which ("external", "amqp-local" or "filesystem")."""
    broker = "external" if values.get("BROKER_URL") else ""
    if not broker:
        if amqp_answers():
            broker, values["BROKER_URL"] = "amqp-local", AMQP_LOCAL
        else:
            broker, values["BROKER_URL"] = "filesystem", "filesystem://"
    if values["BROKER_URL"].startswith("filesystem:"):
        directory = Path(
            _absolute(layout, values.get("BROKER_FILESYSTEM_DIR") or layout.broker_dir)
        )
        values["BROKER_FILESYSTEM_DIR"] = str(directory.resolve())
        prepare_filesystem_broker(directory.resolve())
    else:
        values.pop("BROKER_FILESYSTEM_DIR", None)
    return broker


def _choose_mail(values: dict[str, str], layout: Layout) -> bool:
    """The configured SMTP server, else the local sink; True when it is the sink."""
    mail_sink = not values.get("SMTP_HOST")
    if mail_sink:
        values["SMTP_HOST"] = "127.0.0.1"
        values.setdefault("SMTP_PORT", SMTP_SINK_PORT)
    else:
        values.setdefault("SMTP_PORT", "25")
    values["MAILSINK_DIR"] = _absolute(layout, values.get("MAILSINK_DIR") or layout.mail_dir)
    return mail_sink


def database_schemas(layout: Layout) -> list[str]:
    """Every service with migrations (found, not listed); its schema is named after it."""
    return sorted(ini.parent.name for ini in layout.root.glob("services/*/alembic.ini"))


def procfile_service(name: str) -> str:
    """The service of a Procfile entry: `billing-worker` -> `billing`."""
    return name.split("-", 1)[0]


def describe_broker(resolved: Resolved, layout: Layout) -> None:
    """Say which broker is used, loudly when it is the filesystem fallback."""
    url = redact_url(resolved.values["BROKER_URL"])
    if resolved.broker == "amqp-local":
        log.info("broker: local RabbitMQ answered on 127.0.0.1:5672 -> %s", url)
    elif resolved.broker == "filesystem":
        log.warning(
            "broker: no RabbitMQ on 127.0.0.1:5672, using kombu's filesystem transport in %s. "
            "It polls (tasks start with a delay) and a task whose worker is SIGKILLed is lost. "
            "Start RabbitMQ or set BROKER_URL for anything beyond a first look.",
            layout.show(resolved.values["BROKER_FILESYSTEM_DIR"]),
        )
    else:
        log.info("broker: BROKER_URL from the environment -> %s", url)


def redact_url(url: str) -> str:
    """Hide the password of scheme://user:password@host URLs."""
    scheme, sep, rest = url.partition("://")
    credentials, at, host = rest.rpartition("@")
    if not (sep and at and ":" in credentials):
        return url
    return f"{scheme}://{credentials.split(':', 1)[0]}:***@{host}"
