"""RabbitMQ users of production: one per service, limited to what it publishes and consumes.

deploy/compose/rabbitmq/definitions.json is the policy, in RabbitMQ's definitions format
without passwords. For the `<svc>` service, user `berth_<svc>` may configure, write and read:

- `<svc>`: its task exchange and queue (events it consumes are bound to that queue too);
  deploy also has one task queue per app node, `deploy.node.<name>`;
- `berth.events`: declare and publish, with a topic permission that only lets it publish
  routing keys `<svc>.*` (its own events), and bind its queue to the keys it consumes;
- `<svc>.pidbox`, `*.<svc>.pidbox`: Celery remote control of its own workers only
  (create_celery names the control exchange after the queue);
- `celeryev`, `celeryev.<svc>.*`: Celery monitoring events and its own event consumers;
- `celery_delayed_*`: Celery's native delayed delivery (countdowns and retry backoff on quorum
  queues), shared by every Celery app; a topic permission on each of those exchanges only lets
  it publish routing keys ending in its own queue name or in an event key it consumes (a
  retried event goes back through the delay with its original key), so no service can send a
  delayed message into another service's queue.

- `<svc>.revocations.*`: the exclusive queue each web process binds to `auth.access.revoked`
  to keep its token denylist current (berth_common.revocation).

Nothing else: not another service's exchange or queue, not the default exchange. `berth` is
the operators' administrator, `berth_flower` the monitoring dashboard (events, no control).
`berth_gateway` and `berth_frontend` (no Celery, no events of their own) may only use their
`<svc>.revocations.*` queues and bind them to `auth.access.revoked` on berth.events (passive
use of the exchange: no declaring it, no publishing).

The definitions are loaded by RabbitMQ on boot (`load_definitions`); this module adds each
user's password hash, from the environment, so no password is ever written in clear:
`berth` takes RABBITMQ_PASSWORD, `berth_<name>` takes <NAME>_BROKER_PASSWORD.

    python -m berth_common.brokerdefs TEMPLATE OUTPUT [--owner UID:GID]
"""

import argparse
import base64
import hashlib
import json
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

HASHING_ALGORITHM = "rabbit_password_hashing_sha256"
ADMIN_USER = "berth"
USER_PREFIX = "berth_"


def password_hash(password: str, *, salt: bytes | None = None) -> str:
    """RabbitMQ's salted SHA-256: base64(salt + sha256(salt + password)), 4-byte salt."""
    if not password:
        raise ValueError("broker passwords must not be empty")
    salt = salt or os.urandom(4)
    return base64.b64encode(salt + hashlib.sha256(salt + password.encode()).digest()).decode()


def password_env(user: str) -> str:
    """The environment variable holding a user's password."""
    if user == ADMIN_USER:
        return "RABBITMQ_PASSWORD"
    if user.startswith(USER_PREFIX):
        return f"{user.removeprefix(USER_PREFIX).upper()}_BROKER_PASSWORD"
    raise ValueError(f"no password variable for broker user {user!r}")


def service_user(service: str) -> str:
    return f"{USER_PREFIX}{service}"


def with_passwords(definitions: Mapping[str, Any], passwords: Mapping[str, str]) -> dict:
    """The definitions with every user's password hash (passwords keyed by user name)."""
    users = []
    for user in definitions.get("users", []):
        name = user["name"]
        if not passwords.get(name):
            raise KeyError(f"no password for broker user {name}")
        users.append(
            {
                **user,
                "password_hash": password_hash(passwords[name]),
                "hashing_algorithm": HASHING_ALGORITHM,
            }
        )
    return {**definitions, "users": users}


def write_private(path: Path, content: str, owner: tuple[int, int] | None = None) -> None:
    """Atomically, readable by its owner only (the broker's user, with --owner)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(content)
    if owner is not None:
        os.chown(tmp, *owner)
    os.replace(tmp, path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m berth_common.brokerdefs",
        description="Add password hashes (from the environment) to RabbitMQ definitions.",
    )
    parser.add_argument("template", type=Path)
    parser.add_argument("output", type=Path)
    parser.add_argument("--owner", help="UID:GID to own the output (the broker's user)")
    args = parser.parse_args(argv)
    definitions = json.loads(args.template.read_text())
    passwords: dict[str, str] = {}
    for user in definitions.get("users", []):
        key = password_env(user["name"])
        if not os.environ.get(key):
            print(f"{key} is not set (password of broker user {user['name']})", file=sys.stderr)
            return 1
        passwords[user["name"]] = os.environ[key]
    owner = tuple(int(part) for part in args.owner.split(":")) if args.owner else None
    rendered = json.dumps(with_passwords(definitions, passwords), indent=2)
    write_private(args.output, rendered + "\n", owner)  # type: ignore[arg-type]
    names = ", ".join(passwords)
    print(f"broker definitions written to {args.output} for {names}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
