"""Status pages: a user's public page of chosen monitors at /status/<slug>.

The public read shows only what the page is for: the page's title and description, each
monitor's display name (never its own name, URL, host or error), a coarse state, uptime,
90 daily bars, and open incidents titled from the display names (an incident's own title
names hosts). An unpublished or unknown slug is a 404, the same answer for both.
"""

import uuid
from datetime import UTC, date, datetime

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from berth_common.errors import Conflict, NotFound, Unprocessable
from berth_common.pagination import PageParams
from berth_monitoring.enums import MonitorState, MuteReason
from berth_monitoring.models import Monitor, StatusPage, StatusPageMonitor
from berth_monitoring.results import service as results
from berth_monitoring.statuspages.dao import PageMonitorDAO, PublicReadDAO, StatusPageDAO
from berth_monitoring.statuspages.schemas import (
    PageMonitor,
    PageMonitorIn,
    PublicDay,
    PublicIncident,
    PublicMonitor,
    PublicState,
    PublicStatusPage,
    StatusPageCreate,
    StatusPageUpdate,
)
from berth_monitoring.statuspages.schemas import StatusPage as StatusPageOut

PAGES_PER_USER = 20
BAR_DAYS = 90
_SEVERITY: dict[str, int] = {"up": 0, "unknown": 1, "maintenance": 2, "degraded": 3, "down": 4}


def _day(value: date | datetime) -> date:
    # results.day_bars gives each day as its date or as the UTC midnight it starts at
    return value.astimezone(UTC).date() if isinstance(value, datetime) else value


def shown(page: StatusPage, monitors: list[StatusPageMonitor]) -> StatusPageOut:
    return StatusPageOut(
        id=page.id,
        slug=page.slug,
        title=page.title,
        description=page.description,
        is_published=page.is_published,
        path=f"/status/{page.slug}",
        monitors=[
            PageMonitor(monitor_id=m.monitor_id, display_name=m.display_name, position=m.position)
            for m in monitors
        ],
        created_at=page.created_at,
        updated_at=page.updated_at,
    )


async def list_pages(
    session: AsyncSession, owner_id: uuid.UUID, params: PageParams
) -> tuple[list[StatusPageOut], int]:
    rows, total = await StatusPageDAO(session).list(params, StatusPage.owner_id == owner_id)
    monitors = await PageMonitorDAO(session).of_pages([p.id for p in rows])
    return [shown(p, monitors[p.id]) for p in rows], total


async def get_page(session: AsyncSession, owner_id: uuid.UUID, page_id: uuid.UUID) -> StatusPage:
    page = await StatusPageDAO(session).owned(owner_id, page_id)
    if page is None:
        raise NotFound("Status page not found")
    return page


async def page_out(session: AsyncSession, page: StatusPage) -> StatusPageOut:
    monitors = await PageMonitorDAO(session).of_pages([page.id])
    return shown(page, monitors[page.id])


async def _chosen(
    session: AsyncSession, owner_id: uuid.UUID, chosen: list[PageMonitorIn]
) -> list[tuple[uuid.UUID, str]]:
    ids = [c.monitor_id for c in chosen]
    if len(set(ids)) != len(ids):
        raise Unprocessable("A monitor appears twice on the page")
    mine = await PublicReadDAO(session).owned_monitors(owner_id, ids)
    unknown = [str(i) for i in ids if i not in mine]
    if unknown:
        # another user's monitor is as unknown as a made-up id
        raise Unprocessable("Unknown monitors", details={"monitor_ids": unknown})
    return [(c.monitor_id, c.display_name or mine[c.monitor_id].name[:120]) for c in chosen]


async def _slug_free(session: AsyncSession, slug: str, page_id: uuid.UUID | None) -> None:
    taken = await StatusPageDAO(session).by_slug(slug)
    if taken is not None and taken.id != page_id:
        raise Conflict(f"The address /status/{slug} is taken", code="slug_taken")


async def create_page(
    session: AsyncSession, owner_id: uuid.UUID, body: StatusPageCreate
) -> StatusPageOut:
    pages = StatusPageDAO(session)
    if await pages.count_of(owner_id) >= PAGES_PER_USER:
        raise Unprocessable(f"At most {PAGES_PER_USER} status pages per user")
    rows = await _chosen(session, owner_id, body.monitors)
    await _slug_free(session, body.slug, None)
    try:
        async with session.begin_nested():
            page = await pages.create(
                owner_id=owner_id,
                slug=body.slug,
                title=body.title,
                description=body.description,
                is_published=body.is_published,
            )
    except IntegrityError:  # taken a moment ago by someone else
        raise Conflict(f"The address /status/{body.slug} is taken", code="slug_taken") from None
    await PageMonitorDAO(session).replace(page.id, rows)
    return await page_out(session, page)


async def update_page(
    session: AsyncSession, page: StatusPage, body: StatusPageUpdate
) -> StatusPageOut:
    given = body.model_dump(exclude_unset=True)
    values = {
        k: given[k]
        for k in ("slug", "title", "description", "is_published")
        if given.get(k) is not None
    }
    if "slug" in values:
        await _slug_free(session, values["slug"], page.id)
    if body.monitors is not None:
        rows = await _chosen(session, page.owner_id, body.monitors)
        await PageMonitorDAO(session).replace(page.id, rows)
    try:
        async with session.begin_nested():
            await StatusPageDAO(session).update(page, **values)
    except IntegrityError:
        raise Conflict("That address is taken", code="slug_taken") from None
    return await page_out(session, page)


async def delete_page(session: AsyncSession, page: StatusPage) -> None:
    await StatusPageDAO(session).delete(page)


# --- the public read ---------------------------------------------------------------------------


def public_state(monitor: Monitor, in_maintenance: bool, now: datetime) -> PublicState:
    muted_for_maintenance = (
        monitor.mute_reason == MuteReason.MAINTENANCE
        and monitor.muted_until is not None
        and monitor.muted_until > now
    )
    if monitor.suppressed is not None or in_maintenance or muted_for_maintenance:
        return "maintenance"
    state = MonitorState(monitor.state)
    if state in (MonitorState.UP,):
        return "up"
    if state == MonitorState.DOWN:
        return "down"
    if state in (MonitorState.PENDING, MonitorState.RECOVERING):
        return "degraded"
    return "unknown"


async def public_page(session: AsyncSession, slug: str) -> PublicStatusPage:
    page = await StatusPageDAO(session).by_slug(slug)
    if page is None or not page.is_published:
        raise NotFound("No such status page")
    now = datetime.now(UTC)
    chosen = (await PageMonitorDAO(session).of_pages([page.id]))[page.id]
    ids = [c.monitor_id for c in chosen]
    reads = PublicReadDAO(session)
    monitors = await reads.owned_monitors(page.owner_id, ids)
    ids = [i for i in ids if i in monitors]
    maintenance = await reads.in_maintenance(page.owner_id, ids, now)
    uptimes = await results.uptime(session, ids)
    bars = await results.day_bars(session, ids, days=BAR_DAYS)
    names = {c.monitor_id: c.display_name for c in chosen}
    shown_monitors = [
        PublicMonitor(
            name=names[i],
            state=public_state(monitors[i], i in maintenance, now),
            uptime={w: (round(v, 5) if v is not None else None) for w, v in uptimes[i].items()},
            days=[PublicDay(day=d, up=round(r, 4) if r is not None else None) for d, r in bars[i]],
        )
        for i in ids
    ]
    incidents = [
        PublicIncident(
            title="Outage: " + ", ".join(names[m] for m in ids if m in set(affected)),
            opened_at=incident.opened_at,
        )
        for incident, affected in await reads.open_incidents(page.owner_id, ids)
    ]
    overall: PublicState = max(
        (m.state for m in shown_monitors), key=lambda s: _SEVERITY[s], default="unknown"
    )
    return PublicStatusPage(
        slug=page.slug,
        title=page.title,
        description=page.description,
        overall=overall,
        monitors=shown_monitors,
        incidents=incidents,
        generated_at=now,
    )
