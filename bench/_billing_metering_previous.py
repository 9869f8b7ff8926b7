"""The hourly metering statement as main had it before wallet-first charges and shards
(schema revision e5f2a8c4d1b7): charges keyed (hour, instance_id) beside an (account_id, hour)
index, every wallet in one statement on one core, one revenue account, wallet balances
updated through the `balance < 0` partial index (no HOT update). Built from today's
statement with those parts swapped back. bench/billing_metering.py runs it through the
service's own charge_hour (one shard) on the schema downgraded to REVISION, next to
today's, so one run prints both figures. Not used by the service.
"""

from sqlalchemy import text

from berth_billing.metering.dao import CHARGES, POSTING, WALLET_TOTALS

REVISION = "e5f2a8c4d1b7"
SHARDS = 1

SWAPS = [
    (  # today: one shard of the wallets
        """
          AND i.account_id >= CAST(:low AS uuid)
          AND (CAST(:high AS uuid) IS NULL OR i.account_id < CAST(:high AS uuid))""",
        "",
    ),
    (  # today: a lookup of the wallet-first key per instance
        """        LEFT JOIN LATERAL (SELECT true AS found FROM billing.usage_charges u
                           WHERE u.account_id = s.account_id AND u.hour = :hour
                             AND u.instance_id = s.instance_id
                           LIMIT 1) charged_before ON true
        WHERE s.minutes > 0 AND charged_before.found IS NULL
        ORDER BY s.account_id, s.instance_id""",
        """        WHERE s.minutes > 0
          AND NOT EXISTS (SELECT 1 FROM billing.usage_charges u
                          WHERE u.hour = :hour AND u.instance_id = s.instance_id)
        ORDER BY s.account_id""",
    ),
]
REVENUE_SWAP = ("r.shard = :revenue_shard", "r.shard = 0")

charges = CHARGES
for today, before in SWAPS:
    assert today in charges, "today's statement changed: update the previous one"
    charges = charges.replace(today, before)
assert REVENUE_SWAP[0] in POSTING, "today's statement changed: update the previous one"
CHARGE_HOUR = text(charges + WALLET_TOTALS + POSTING.replace(*REVENUE_SWAP))
CHARGE_WORK_MEM = text("SET LOCAL work_mem = '256MB'")
CHARGE_BY_KEY = text("SET LOCAL enable_seqscan = on")  # the planner's own choice, as before
