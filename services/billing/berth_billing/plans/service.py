"""Plans and hourly prices with history: a change applies from a full hour to come."""

from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from berth_billing.config import BillingSettings
from berth_billing.hours import hour_floor
from berth_billing.models import Plan
from berth_billing.payments.service import AmountOutOfRange, check_currency
from berth_billing.plans import schemas
from berth_billing.plans.dao import PlanDAO, PriceDAO
from berth_common.errors import Conflict, NotFound, Unprocessable
from berth_common.money import currency_exponent

# seed prices per hour in hundredths of a major unit (cents for EUR/USD), from the plans'
# first day; admins change them through the admin API
SEED_PRICES = {
    "web-small": 2,
    "static-small": 1,
    "worker-small": 2,
    "agent-small": 5,
    "n8n-small": 3,
    "vps-1": 4,
    "vps-2": 8,
}
SEED_FROM = datetime(2000, 1, 1, tzinfo=UTC)


def next_hour(now: datetime | None = None) -> datetime:
    return hour_floor(now or datetime.now(UTC)) + timedelta(hours=1)


def _seed_amount(cents: int, currency: str) -> int:
    exp = currency_exponent(currency)
    return max(1, cents * 10**exp // 100)


async def ensure_seed(session: AsyncSession, settings: BillingSettings) -> None:
    """The template plans (the migration made them) get a first price in this currency."""
    plans, prices = PlanDAO(session), PriceDAO(session)
    for key, cents in SEED_PRICES.items():
        await plans.ensure(key)
        if not await prices.has_any(key):
            await prices.upsert(
                plan_key=key,
                amount_per_hour=_seed_amount(cents, settings.currency),
                currency=settings.currency,
                valid_from=SEED_FROM,
                created_by="system:seed",
            )


async def describe(session: AsyncSession, settings: BillingSettings, plan: Plan) -> schemas.Plan:
    now_hour = hour_floor(datetime.now(UTC))
    prices = PriceDAO(session)
    current = await prices.effective(plan.key, now_hour)
    upcoming = await prices.scheduled_after(plan.key, now_hour)
    return schemas.Plan(
        key=plan.key,
        name=plan.name,
        description=plan.description,
        is_active=plan.is_active,
        max_apps_per_owner=plan.max_apps_per_owner,
        currency=current.currency if current else settings.currency,
        amount_per_hour=current.amount_per_hour if current else None,
        next_price=schemas.Price.model_validate(upcoming) if upcoming else None,
    )


async def list_plans(session: AsyncSession, settings: BillingSettings) -> list[schemas.Plan]:
    return [await describe(session, settings, p) for p in await PlanDAO(session).all()]


def _check_price(settings: BillingSettings, amount: int, currency: str | None) -> None:
    check_currency(settings, currency)
    if amount > settings.max_hourly_price:
        raise AmountOutOfRange(
            "The hourly price is out of range", details={"max": settings.max_hourly_price}
        )


async def create_plan(
    session: AsyncSession, settings: BillingSettings, body: schemas.PlanCreate, caused_by: str
) -> schemas.Plan:
    _check_price(settings, body.amount_per_hour, body.currency)
    plans = PlanDAO(session)
    if await plans.get(body.key) is not None:
        raise Conflict("A plan with this key exists")
    plan = await plans.create(
        key=body.key,
        name=body.name,
        description=body.description,
        max_apps_per_owner=body.max_apps_per_owner,
    )
    # a new plan has no history to protect: its first price holds from the current hour
    await PriceDAO(session).upsert(
        plan_key=plan.key,
        amount_per_hour=body.amount_per_hour,
        currency=settings.currency,
        valid_from=hour_floor(datetime.now(UTC)),
        created_by=caused_by,
    )
    return await describe(session, settings, plan)


async def update_plan(
    session: AsyncSession, settings: BillingSettings, key: str, body: schemas.PlanUpdate
) -> schemas.Plan:
    plans = PlanDAO(session)
    plan = await plans.get_or_404(key)
    await plans.update(plan, **body.model_dump(exclude_none=True))
    return await describe(session, settings, plan)


async def change_price(
    session: AsyncSession,
    settings: BillingSettings,
    key: str,
    body: schemas.PriceCreate,
    caused_by: str,
) -> schemas.Price:
    _check_price(settings, body.amount_per_hour, body.currency)
    if await PlanDAO(session).get(key) is None:
        raise NotFound("Plan not found")
    earliest = next_hour()
    valid_from = earliest if body.valid_from is None else body.valid_from
    if valid_from.tzinfo is None:
        raise Unprocessable("valid_from needs a time zone (e.g. Z)")
    if valid_from != hour_floor(valid_from) or valid_from < earliest:
        raise Unprocessable(
            "A price change applies from a full hour, the next one at the earliest",
            details={"earliest": earliest.isoformat()},
        )
    price = await PriceDAO(session).upsert(
        plan_key=key,
        amount_per_hour=body.amount_per_hour,
        currency=settings.currency,
        valid_from=valid_from.astimezone(UTC),
        created_by=caused_by,
    )
    return schemas.Price.model_validate(price)


async def history(session: AsyncSession, key: str) -> list[schemas.Price]:
    if await PlanDAO(session).get(key) is None:
        raise NotFound("Plan not found")
    return [schemas.Price.model_validate(p) for p in await PriceDAO(session).history(key)]
