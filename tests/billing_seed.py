"""Set-based seeding of billing data for the e2e tests and bench/billing_*.py: many wallets
with credit and many instance intervals, written by a few SQL statements (no loops)."""

import uuid
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

WALLETS = text(
    """
    INSERT INTO billing.accounts (id, kind, owner_id, currency)
    SELECT gen_random_uuid(), 'wallet', gen_random_uuid(), :currency
    FROM generate_series(1, :n)
    RETURNING id
    """
)

SYSTEM_ACCOUNT = text(
    """
    INSERT INTO billing.accounts (kind, owner_id, currency) VALUES ('adjustments', NULL, :currency)
    ON CONFLICT DO NOTHING
    """
)

CREDIT = text(
    """
    WITH w AS (SELECT unnest(CAST(:ids AS uuid[])) AS id),
         adj AS (SELECT id FROM billing.accounts
                 WHERE kind = 'adjustments' AND owner_id IS NULL AND currency = :currency
                 ORDER BY created_at LIMIT 1)
    INSERT INTO billing.ledger_entries
        (transaction_id, account_id, amount, currency, kind, memo, occurred_at)
    SELECT CAST(:txn AS uuid), w.id, CAST(:amount AS bigint), :currency, 'adjustment', 'seed',
           now()
    FROM w
    UNION ALL
    SELECT CAST(:txn AS uuid), adj.id, -CAST(:amount AS bigint) * (SELECT count(*) FROM w),
           :currency,
           'adjustment', 'seed', now()
    FROM adj
    """
)

INTERVALS = text(
    """
    INSERT INTO billing.usage_intervals
        (instance_id, app_id, app_slug, owner_id, account_id, plan_key, started_at, stopped_at,
         updated_at)
    SELECT gen_random_uuid(), gen_random_uuid(), 'seed-' || g, a.owner_id, a.id, :plan,
           CAST(:started AS timestamptz), CAST(:stopped AS timestamptz), now()
    FROM generate_series(1, :n) AS g
    JOIN LATERAL (
        SELECT id, owner_id FROM billing.accounts
        WHERE id = (CAST(:ids AS uuid[]))[1 + g % cardinality(CAST(:ids AS uuid[]))]
    ) a ON true
    """
)


async def seed_wallets(
    conn: AsyncConnection, n: int, currency: str, credit: int
) -> list[uuid.UUID]:
    """n wallets, each credited `credit` minor units by one balanced journal transaction."""
    ids = [row[0] for row in (await conn.execute(WALLETS, {"n": n, "currency": currency}))]
    await conn.execute(SYSTEM_ACCOUNT, {"currency": currency})
    txn = uuid.uuid4()
    await conn.execute(
        text(
            "INSERT INTO billing.ledger_transactions (id, kind, key, description, caused_by)"
            " VALUES (:t, 'adjustment', :k, 'seed credit', 'system:seed')"
        ),
        {"t": txn, "k": f"seed:{txn}"},
    )
    await conn.execute(CREDIT, {"ids": ids, "txn": txn, "amount": credit, "currency": currency})
    return ids


async def seed_intervals(
    conn: AsyncConnection,
    n: int,
    wallet_ids: list[uuid.UUID],
    plan: str,
    started: datetime,
    stopped: datetime | None,
) -> None:
    """n instance intervals spread over the wallets, all running from `started` to `stopped`."""
    await conn.execute(
        INTERVALS,
        {"n": n, "ids": wallet_ids, "plan": plan, "started": started, "stopped": stopped},
    )
