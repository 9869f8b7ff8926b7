"""A VPS's boots as deploy's instance events (events.py), so billing meters VPS hours like app
instances with no change on its side: instance_id is the boot's id (a new one each time the
machine is started; a reboot keeps it), app_id is null, plan_key the plan's billing key.

VPS keys besides the instance keys: vps_id, vps_name, kind ("kvm" | "container"), node, and on
`started` process_type "vps", ssh {host, port} (what monitoring's TCP check connects to).
"""

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from berth_common.outbox import publish_event
from berth_deploy.events import DELETED, STARTED
from berth_deploy.vps.models import Vps


def _iso(moment: datetime | None) -> str:
    return (moment or datetime.now(UTC)).astimezone(UTC).isoformat()


def _common(vps: Vps) -> dict[str, Any]:
    return {
        "instance_id": str(vps.boot_id),
        "app_id": None,
        "vps_id": str(vps.id),
        "vps_name": vps.name,
        "kind": vps.kind,
        "node": vps.node,
        "owner_id": str(vps.owner_id),
        "plan_key": vps.billing_plan_key,
    }


async def boot_started(session: AsyncSession, vps: Vps, *, ssh_host: str) -> None:
    """A new billed interval: the machine booted and answers SSH."""
    vps.boot_id = uuid.uuid4()
    vps.boot_started_at = datetime.now(UTC)
    await publish_event(
        session,
        STARTED,
        {
            **_common(vps),
            "app_slug": vps.name,
            "app_name": vps.name,
            "started_at": _iso(vps.boot_started_at),
            "release_id": None,
            "process_type": "vps",
            "hostname": None,
            "health": {"type": "tcp", "timeout_seconds": 5},
            "ssh": {"host": ssh_host, "port": vps.ssh_port},
        },
    )


async def boot_ended(session: AsyncSession, key: str, vps: Vps, reason: str) -> None:
    """stopped / suspended / deleted: the end of the boot's billed interval (if one runs)."""
    if vps.boot_id is None:
        return
    payload = {**_common(vps), "stopped_at": _iso(None)}
    if key != DELETED:
        payload["reason"] = reason
    await publish_event(session, key, payload)
    vps.boot_id = None
    vps.boot_started_at = None
