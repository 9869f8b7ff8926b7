"""The hourly metering statement as main had it before keyed charges in run order and shards
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
    (  # today: ordered as the (hour, account_id, instance_id) key
        "ORDER BY s.account_id, s.instance_id",
        "ORDER BY s.account_id",
    ),
]
# before: a lookup of the (hour, instance_id) key per instance, on every run
LOOKUP = """
          AND NOT EXISTS (SELECT 1 FROM billing.usage_charges u
                          WHERE u.hour = :hour AND u.instance_id = s.instance_id)"""
REVENUE_SWAP = ("r.shard = :revenue_shard", "r.shard = 0")

charges = CHARGES
for today, before in SWAPS:
    assert today in charges, "today's statement changed: update the previous one"
    charges = charges.replace(today, before)
charges = charges.format(unless_charged=LOOKUP)
assert REVENUE_SWAP[0] in POSTING, "today's statement changed: update the previous one"
CHARGE_HOUR = text(charges + WALLET_TOTALS + POSTING.replace(*REVENUE_SWAP))
# there was no statement without the lookup: every run took CHARGE_HOUR
FIRST_CHARGE_HOUR = CHARGE_HOUR
CHARGED_IN_RANGE = text("SELECT CAST(:hour AS timestamptz) IS NOT NULL")
CHARGE_WORK_MEM = text("SET LOCAL work_mem = '256MB'")
CHARGE_BY_KEY = text("SET LOCAL enable_seqscan = on")  # the planner's own choice, as before
