"""A stopping service never waits forever on one shutdown hook: a hook that hangs is left
behind and named in the log, and the hooks after it still run."""

import asyncio

from asgi_lifespan import LifespanManager
from loguru import logger

from berth_common import app as app_module
from berth_common.app import create_service_app
from berth_common.config import ServiceSettings


async def test_a_hanging_shutdown_hook_is_left_behind_and_the_others_still_run(monkeypatch):
    monkeypatch.setattr(app_module, "SHUTDOWN_HOOK_SECONDS", 0.2)
    ran: list[str] = []

    async def close_database(_app) -> None:
        ran.append("close_database")

    released = asyncio.Event()

    async def close_broker(_app) -> None:
        while not released.is_set():  # a broker that never answers; its cancel is swallowed
            try:
                await released.wait()
            except asyncio.CancelledError:
                continue

    async def failing_hook(_app) -> None:
        ran.append("failing_hook")
        raise RuntimeError("boom")

    service = create_service_app(  # configures logging: the sink below comes after
        ServiceSettings(service_name="t"),
        title="t",
        on_shutdown=[close_database, failing_hook, close_broker],  # run in reverse
    )
    messages: list[str] = []
    sink = logger.add(lambda message: messages.append(str(message)), level="ERROR")
    try:
        async with LifespanManager(service, shutdown_timeout=10):
            pass
    finally:
        logger.remove(sink)
        released.set()  # let the abandoned hook end, so it does not outlive the test

    assert ran == ["failing_hook", "close_database"]
    assert any("close_broker" in m and "left behind" in m for m in messages), messages
    assert any("failing_hook" in m and "failed" in m for m in messages), messages


async def test_startup_objects_are_frozen_out_of_the_collectors_sight():
    import gc

    service = create_service_app(ServiceSettings(service_name="t"), title="t")
    async with LifespanManager(service):
        # a full collection then scans only what requests leave behind
        assert gc.get_freeze_count() > 0
