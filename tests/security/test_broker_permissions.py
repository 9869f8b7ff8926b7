"""Production's broker users (deploy/compose/rabbitmq/definitions.json), applied to a vhost of
this test on the local RabbitMQ: each service sends and takes what it needs, and nothing can
reach another service's queue. Real RabbitMQ, the platform's own publisher and Celery worker."""

import asyncio
import base64
import json
import os
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import aio_pika
import pytest
from aiormq.exceptions import ChannelAccessRefused
from celery.app.utils import find_app
from kombu import Connection
from kombu.transport.native_delayed_delivery import (
    calculate_routing_key,
    declare_native_delayed_delivery_exchanges_and_queues,
)

from berth_common.broker import QUORUM, AmqpPublisher
from berth_common.brokerdefs import password_env, password_hash, service_user
from berth_common.messages import EVENTS_EXCHANGE, OutgoingMessage, event_message, task_message
from berth_common.revocation import (
    REVOKED_EVENT,
    Denylist,
    RevocationFeed,
    Revocations,
    TokenRevoked,
)
from berth_common.security import Principal
from berth_testing.broker import BROKER_DEFINITIONS, isolated_vhost, service_broker_users
from berth_testing.platform import BIN
from berth_testing.plugin import PlatformDatabase
from berth_testing.processes import ManagedProcess

SERVICES = ("auth", "billing", "deploy")
#: every process type that verifies tokens follows revocations with its own broker user
TOKEN_CHECKERS = (*SERVICES, "frontend", "gateway")


@pytest.fixture(scope="module")
def users(repo_root: Path) -> Iterator[dict[str, str]]:
    """{service: URL of its broker user} on a vhost of this module."""
    with (
        isolated_vhost("berth_perms") as vhost_url,
        service_broker_users(repo_root, vhost_url, TOKEN_CHECKERS) as users,
    ):
        assert set(users) == set(TOKEN_CHECKERS), "rabbitmqctl could not create the broker users"
        # Celery's shared delay exchanges, declared as every worker does at start
        with Connection(users["auth"]) as connection:
            declare_native_delayed_delivery_exchanges_and_queues(connection, "quorum")
        yield users


async def publish(url: str, message: OutgoingMessage, *, declare: tuple[str, ...] = ()) -> None:
    """As the URL's user, on a confirming channel of its own (a refusal closes the channel)."""
    connection = await aio_pika.connect(url, timeout=10)
    try:
        channel = await connection.channel(publisher_confirms=True)
        if message.exchange:
            exchange = await channel.get_exchange(message.exchange, ensure=False)
        else:
            exchange = channel.default_exchange
        await exchange.publish(
            aio_pika.Message(  # as AmqpPublisher sends it: a Celery task message
                body=message.body.encode(),
                headers=message.headers,
                content_type="application/json",
                content_encoding="utf-8",
                message_id=message.id,
                correlation_id=message.id,
            ),
            routing_key=message.routing_key,
            timeout=10,
        )
    finally:
        await connection.close()


async def refused(action) -> None:
    with pytest.raises(ChannelAccessRefused):
        await action()


async def ready(url: str, service: str) -> AmqpPublisher:
    """The web processes' publisher: declares the events exchange and its own queue."""
    publisher = AmqpPublisher(url, (service,))
    await publisher.ping()
    return publisher


async def test_each_service_sends_its_tasks_events_and_delayed_retries(users):
    for service in SERVICES:
        publisher = await ready(users[service], service)
        try:
            await publisher.publish(task_message(f"{service}.test.noop", queue=service))
            await publisher.publish(event_message(f"{service}.thing.happened", {}, source=service))
        finally:
            await publisher.close()
        # Celery's countdowns and retries go through its shared delay exchanges
        delayed = task_message(
            f"{service}.test.noop",
            queue=service,
            exchange="celery_delayed_27",
            routing_key=calculate_routing_key(3600, service),
        )
        await publish(users[service], delayed)
    # a retried event goes back through the delay with the key it came with
    retried = event_message("deploy.instance.started", {}, source="deploy")
    retried.exchange = "celery_delayed_27"
    retried.routing_key = calculate_routing_key(3600, retried.routing_key)
    await publish(users["billing"], retried)

    # and each one reads its own queue
    connection = await aio_pika.connect(users["auth"], timeout=10)
    try:
        channel = await connection.channel()
        queue = await channel.declare_queue("auth", durable=True, arguments=QUORUM)
        message = await queue.get(timeout=10)
        assert message.headers["task"] == "auth.test.noop"
        await message.ack()
    finally:
        await connection.close()


async def test_no_service_can_send_into_or_read_another_services_queue(users):
    for service in SERVICES:  # every queue and exchange exists: refusals are about rights
        await (await ready(users[service], service)).close()
    billing = users["billing"]
    to_deploy = task_message("deploy.operations.run", queue="deploy", kwargs={"app_id": "x"})

    await refused(lambda: publish(billing, to_deploy))  # deploy's exchange
    default = task_message("deploy.operations.run", queue="deploy", exchange="")
    await refused(lambda: publish(billing, default))  # straight to its queue
    forged = event_message("deploy.instance.stopped", {}, source="deploy")
    await refused(lambda: publish(billing, forged))  # someone else's event
    unsuspend = event_message("billing.account.unsuspended", {}, source="billing")
    await refused(lambda: publish(users["auth"], unsuspend))  # the example
    for exchange in ("celery_delayed_27", "celery_delayed_0", "celery_delayed_delivery"):
        smuggled = task_message(
            "deploy.operations.run",
            queue="deploy",
            exchange=exchange,
            routing_key=calculate_routing_key(1, "deploy"),
        )
        await refused(lambda m=smuggled: publish(billing, m))  # into deploy after a delay
    control = task_message("shutdown", queue="deploy.pidbox", exchange="deploy.pidbox")
    await refused(lambda: publish(billing, control))  # remote control of deploy's workers

    async def on_deploys_queue(operation: str) -> None:
        connection = await aio_pika.connect(billing, timeout=10)
        try:
            channel = await connection.channel()
            if operation == "declare":
                await channel.declare_queue("deploy", durable=True, arguments=QUORUM)
            queue = await channel.get_queue("deploy", ensure=False)
            if operation == "consume":
                await queue.get(timeout=5, fail=False)
            elif operation == "bind":
                await queue.bind(EVENTS_EXCHANGE, routing_key="#")
            elif operation == "delete":
                await queue.delete(if_unused=False, if_empty=False)
            elif operation == "purge":
                await queue.purge()
        finally:
            await connection.close()

    for operation in ("declare", "consume", "bind", "delete", "purge"):
        await refused(lambda op=operation: on_deploys_queue(op))


async def test_every_token_checker_follows_revocations_with_its_own_user(users):
    auth = await ready(users["auth"], "auth")  # auth's publisher declares berth.events

    async def nothing_revoked() -> Revocations:
        return Revocations()

    feeds: dict[str, tuple[RevocationFeed, Denylist]] = {}
    try:
        for name in TOKEN_CHECKERS:
            denylist = Denylist()
            feed = RevocationFeed(
                denylist,
                nothing_revoked,
                users[name],
                name=name,
                resync_seconds=600,
                poll_seconds=600,
            )
            await feed.start()
            feeds[name] = (feed, denylist)
        await until(lambda: all(feed.live for feed, _ in feeds.values()), "every subscription")
        until_s = int(time.time()) + 600
        revoked = {"sessions": [{"id": "s-revoked", "until": until_s}]}
        await auth.publish(event_message(REVOKED_EVENT, revoked, source="auth"))
        session = Principal("u1", "user", "berth-panel", session_id="s-revoked")

        def everyone_refuses() -> bool:
            for _, denylist in feeds.values():
                try:
                    denylist.check(session)
                except TokenRevoked:
                    continue
                return False
            return True

        await until(everyone_refuses, "the revocation at every process")
    finally:
        await auth.close()
        for feed, _ in feeds.values():
            await feed.stop()


async def test_the_gateway_and_frontend_users_may_only_follow_revocations(users):
    await (await ready(users["auth"], "auth")).close()
    for name in ("gateway", "frontend"):
        url = users[name]
        forged = event_message(REVOKED_EVENT, {"sessions": []}, source="auth")
        await refused(lambda u=url, m=forged: publish(u, m))  # not even a revocation
        to_auth = task_message("auth.mail.send", queue="auth")
        await refused(lambda u=url, m=to_auth: publish(u, m))

        async def on_queue(url: str, queue_name: str, key: str | None) -> None:
            connection = await aio_pika.connect(url, timeout=10)
            try:
                channel = await connection.channel()
                queue = await channel.declare_queue(queue_name, exclusive=True, auto_delete=True)
                if key is not None:
                    await queue.bind(EVENTS_EXCHANGE, routing_key=key)
            finally:
                await connection.close()

        own = f"{name}.revocations.test.{uuid.uuid4().hex[:6]}"
        await on_queue(url, own, REVOKED_EVENT)  # what it is for
        for key in ("#", "auth.user.registered", "deploy.instance.started"):
            await refused(lambda u=url, q=f"{own}x", k=key: on_queue(u, q, k))  # other events
        other = "gateway" if name == "frontend" else "frontend"
        await refused(lambda u=url, q=f"{other}.revocations.x": on_queue(u, q, None))
        await refused(lambda u=url: on_queue(u, "auth", None))


async def until(check, what: str, within: float = 10.0) -> None:
    deadline = time.monotonic() + within
    while not check():
        assert time.monotonic() < deadline, f"{what}: not within {within}s"
        await asyncio.sleep(0.05)


def test_a_service_worker_runs_with_its_broker_user_alone(
    users, repo_root: Path, berth_env: dict[str, str], platform_database: PlatformDatabase, tmp_path
):
    """billing's real Celery worker, started as in production (mingle, gossip, events,
    delayed delivery), as billing's broker user and database role."""
    env = {
        **berth_env,
        "BROKER_URL": users["billing"],
        "DATABASE_URL": platform_database.runtime_url("billing"),
    }
    node = f"billing@perms-{uuid.uuid4().hex[:6]}"
    celery = [str(BIN / "celery"), "-A", "berth_billing.worker"]
    worker = ManagedProcess(
        "billing-worker",
        [*celery, "worker", "-Q", "billing", "--concurrency", "1", "-n", node],
        env=env,
        log_dir=tmp_path,
        cwd=repo_root,
    ).start()
    try:
        worker.wait_ready(lambda: b" ready." in worker.output(), timeout=60)
        ping = subprocess.run(
            [*celery, "inspect", "ping", "-d", node, "--timeout", "10"],
            env=env,
            cwd=repo_root,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert f"{node}: OK" in ping.stdout, ping.stdout + ping.stderr

        # a countdown task as billing would send it: through the delay, back to its queue
        task_id = str(uuid.uuid4())
        delayed = task_message(
            "billing.dunning.check",
            queue="billing",
            task_id=task_id,
            exchange="celery_delayed_27",
            routing_key=calculate_routing_key(1, "billing"),
        )
        asyncio.run(publish(users["billing"], delayed))
        done = re.compile(rf"billing\.dunning\.check\[{task_id}\] succeeded".encode())
        worker.wait_ready(lambda: bool(done.search(worker.output())), timeout=30)
    finally:
        worker.stop()
    log = worker.log_path.read_text()
    for trouble in ("ACCESS_REFUSED", "access_refused", "Failed to setup delayed delivery"):
        assert trouble not in log


def test_the_definitions_follow_what_each_services_celery_app_declares(berth_env):
    """A service that starts consuming an event, or renames its queue, needs the policy
    updated too: this compares the two."""
    policy = json.loads((Path(__file__).parents[2] / BROKER_DEFINITIONS).read_text())
    for service in SERVICES:
        app = find_app(f"berth_{service}.worker")  # as `celery -A berth_<svc>.worker` does
        user = service_user(service)
        # deploy's worker also has its node's own queue (deploy.node.<name>)
        queue, *own_queues = app.conf.task_queues
        consumed = [b.routing_key for b in queue.bindings if b.exchange.name == EVENTS_EXCHANGE]
        [rights] = [p for p in policy["permissions"] if p["user"] == user]
        topics = {
            t["exchange"]: t["write"] for t in policy["topic_permissions"] if t["user"] == user
        }
        names = [
            queue.name,
            *(q.name for q in own_queues),
            EVENTS_EXCHANGE,
            f"{app.conf.control_exchange}.pidbox",
            f"reply.{app.conf.control_exchange}.pidbox",
            f"{service}@host.{app.conf.control_exchange}.pidbox",
            f"{app.conf.event_queue_prefix}.{uuid.uuid4()}",
            "celeryev",
            "celery_delayed_27",
            "celery_delayed_delivery",
        ]
        for kind in ("configure", "write", "read"):
            for name in names:
                assert re.match(rights[kind], name), (user, kind, name)
        assert re.match(topics[EVENTS_EXCHANGE], f"{service}.thing.happened")
        delayed = [f"celery_delayed_{n}" for n in range(28)] + ["celery_delayed_delivery"]
        assert set(topics) == {EVENTS_EXCHANGE, *delayed}
        for exchange in delayed:
            for key in (queue.name, *(q.name for q in own_queues), *consumed):
                assert re.match(topics[exchange], calculate_routing_key(90, key)), (user, key)


def test_the_compose_definitions_take_every_password_from_the_environment(tmp_path):
    template = Path(__file__).parents[2] / BROKER_DEFINITIONS
    policy = json.loads(template.read_text())
    passwords = {password_env(u["name"]): f"pw-{uuid.uuid4().hex}" for u in policy["users"]}
    output = tmp_path / "definitions.json"
    command = [sys.executable, "-m", "berth_common.brokerdefs", str(template), str(output)]

    missing = dict(passwords)
    missing.pop("FLOWER_BROKER_PASSWORD")
    failed = subprocess.run(command, env={**os.environ, **missing}, capture_output=True, text=True)
    assert failed.returncode == 1 and "FLOWER_BROKER_PASSWORD is not set" in failed.stderr
    assert not output.exists()

    done = subprocess.run(command, env={**os.environ, **passwords}, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert output.stat().st_mode & 0o777 == 0o600
    rendered = json.loads(output.read_text())
    assert rendered["permissions"] == policy["permissions"]
    for user in rendered["users"]:
        password = passwords[password_env(user["name"])]
        salt = base64.b64decode(user["password_hash"])[:4]
        assert user["password_hash"] == password_hash(password, salt=salt)
        assert user["hashing_algorithm"] == "rabbit_password_hashing_sha256"
        assert password not in output.read_text()
