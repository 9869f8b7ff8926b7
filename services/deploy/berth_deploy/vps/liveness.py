"""Whether the machines of the VPSes that should run do (monitoring's VPS checks ask).

A VPS on the web process's own node: its driver's word, asked now. On another node: what that
node's supervisor last saw (it writes its VPSes' states each tick, `observe`), or `unknown`
once that is older than DEPLOY_LIVENESS_STALE_SECONDS (nobody is watching: a platform fault).
"""

import uuid
from collections import defaultdict
from datetime import timedelta
from typing import Any

from loguru import logger
from sqlalchemy.ext.asyncio import AsyncSession

from berth_deploy.config import DeploySettings
from berth_deploy.vps.dao import VpsDAO, meant_to_run

UNKNOWN = "unknown"


async def asked(driver, vps_id: uuid.UUID) -> str:
    try:
        return await driver.state(vps_id)
    except Exception as exc:  # the driver cannot tell: unknown, never a 500 to monitoring
        logger.bind(vps_id=str(vps_id)).info("machine state unknown: {}", type(exc).__name__)
        return UNKNOWN


async def liveness(session: AsyncSession, settings: DeploySettings, driver) -> list[dict]:
    """Every VPS that should be running, with its machine's state."""
    now = await VpsDAO(session).database_now()
    fresh_after = now - timedelta(seconds=settings.liveness_stale_seconds)
    out = []
    for vps in await meant_to_run(session):
        if vps.node == settings.node_name:
            state = await asked(driver, vps.id) if driver is not None else UNKNOWN
        elif vps.observed_at is not None and vps.observed_at >= fresh_after:
            state = vps.observed_state or UNKNOWN
        else:
            state = UNKNOWN
        out.append(
            {
                "vps_id": vps.id,
                "owner_id": vps.owner_id,
                "node": vps.node,
                "state": state,
                "alive": state == "running",
            }
        )
    return out


async def watched_here(session: AsyncSession, *, node: str) -> list[uuid.UUID]:
    """The node's VPSes whose machines should run (its supervisor looks at them)."""
    return await VpsDAO(session).meant_to_run_on(node)


async def observe(
    session: AsyncSession,
    *,
    states: dict[uuid.UUID, str],
    usages: dict[uuid.UUID, dict[str, Any]] | None = None,
) -> None:
    """Record what the node's supervisor saw, stamped with the database's clock: each
    machine's state, and the resource use of those it could measure."""
    by_state: dict[str, list[uuid.UUID]] = defaultdict(list)
    for vps_id, state in states.items():
        by_state[state[:16]].append(vps_id)
    for state, ids in by_state.items():
        await VpsDAO(session).observed(ids, state)
    for vps_id, usage in (usages or {}).items():
        await VpsDAO(session).used(vps_id, usage)
