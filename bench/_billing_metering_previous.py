"""The hourly metering statement as it was before wallet-hour entries, on the schema of billing
b7d3e5a91c24 (usage charges with a surrogate id, unique (instance_id, hour)): the same
charges, but a journal entry per instance-hour charged (1M entries for
1M instances, each with its instance's memo) rather than one per wallet. Today's statement
with each charge standing for a "wallet" of its own gives exactly that.
bench/billing_metering.py runs it through the service's own charge_hour, next to today's, so
one run prints both figures. Not used by the service.
"""

from sqlalchemy import text

from berth_billing.metering.dao import CHARGES, POSTING

REVISION = "b7d3e5a91c24"

PER_INSTANCE = """, wallets AS (
        SELECT c.account_id, c.currency, 1 AS charges, c.amount, c.minutes,
               COALESCE(c.app_slug, CAST(c.app_id AS text), 'app') AS app, c.plan_key
        FROM charged c
        WHERE c.transaction_id IS NOT NULL
    )"""

CHARGE_HOUR = text(CHARGES + PER_INSTANCE + POSTING)
