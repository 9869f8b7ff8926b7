"""The tests' RabbitMQ: a vhost of their own, and per service a broker user with exactly the
rights production gives it (used by the plugin's fixtures and the e2e platform)."""

import json
import os
import secrets
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from berth_common.brokerdefs import service_user, with_passwords

DEFAULT_BROKER = "amqp://guest:guest@127.0.0.1:5672/"


def _rabbitmqctl(*args: str) -> bool:
    ctl = shutil.which("rabbitmqctl")
    if not ctl:
        return False
    result = subprocess.run(  # noqa: S603 - fixed argv
        [ctl, "-q", *args], capture_output=True, timeout=60, check=False
    )
    return result.returncode == 0


@contextmanager
def isolated_vhost(prefix: str = "berth_test") -> Iterator[str]:
    """A broker URL on a vhost of its own (when rabbitmqctl is at hand), removed afterwards,
    so a running `make run` or another group of tests never takes these messages."""
    base = os.environ.get("TEST_BROKER_URL", DEFAULT_BROKER)
    if not base.startswith("amqp"):
        yield base
        return
    vhost = f"{prefix}_{uuid.uuid4().hex[:8]}"
    if _rabbitmqctl("add_vhost", vhost) and _rabbitmqctl(
        "set_permissions", "-p", vhost, "guest", ".*", ".*", ".*"
    ):
        try:
            yield base.rstrip("/") + "/" + vhost
        finally:
            _rabbitmqctl("delete_vhost", vhost)
    else:
        yield base


BROKER_DEFINITIONS = Path("deploy/compose/rabbitmq/definitions.json")


@contextmanager
def service_broker_users(
    root: Path, broker_url: str, services: Iterable[str], prefix: str = "berth_run"
) -> Iterator[dict[str, str]]:
    """Per service, a broker user of its own on broker_url's vhost with exactly the rights
    production gives it (deploy/compose/rabbitmq/definitions.json), named for this run (users
    are broker-wide) and deleted afterwards: {service: its broker URL}. Empty when rabbitmqctl
    is not at hand or the broker is not RabbitMQ (the processes then share broker_url)."""
    parts = urlsplit(broker_url)
    if parts.scheme not in ("amqp", "amqps") or not shutil.which("rabbitmqctl"):
        yield {}
        return
    vhost = unquote(parts.path[1:]) or "/"
    policy = json.loads((root / BROKER_DEFINITIONS).read_text())
    tag = uuid.uuid4().hex[:8]
    names = {
        service_user(svc): f"{prefix}_{tag}_{svc}"
        for svc in services
        if any(user["name"] == service_user(svc) for user in policy["users"])
    }
    passwords = {name: secrets.token_urlsafe(16) for name in names.values()}

    def here(entry: dict[str, Any]) -> dict[str, Any]:
        return {**entry, "user": names[entry["user"]], "vhost": vhost}

    definitions = with_passwords(
        {
            "users": [
                {**u, "name": names[u["name"]]} for u in policy["users"] if u["name"] in names
            ],
            "permissions": [here(e) for e in policy["permissions"] if e["user"] in names],
            "topic_permissions": [
                here(e) for e in policy["topic_permissions"] if e["user"] in names
            ],
        },
        passwords,
    )
    with tempfile.NamedTemporaryFile("w", suffix=".json") as handle:
        json.dump(definitions, handle)
        handle.flush()
        os.chmod(handle.name, 0o644)  # rabbitmqctl may read it as the broker's user
        imported = _rabbitmqctl("import_definitions", handle.name)
    if not imported:
        yield {}
        return
    host = f"{parts.hostname}:{parts.port or 5672}"
    try:
        yield {
            name.removeprefix(f"{prefix}_{tag}_"): (
                f"{parts.scheme}://{name}:{passwords[name]}@{host}/{quote(vhost, safe='')}"
            )
            for name in names.values()
        }
    finally:
        for name in names.values():
            _rabbitmqctl("delete_user", name)
