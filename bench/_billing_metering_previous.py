"""The hourly metering statement as main had it before the anti-join (same schema): the
charges' INSERT skipped what was charged before by ON CONFLICT (hour, instance_id) DO
NOTHING, a speculative insertion per row, and ran at the server's work_mem (4 MB by
default: the sort, the rows the INSERT returns and the per-wallet sums went to temporary
files at 1M instances). Built from today's statement, whose anti-join is swapped back.
bench/billing_metering.py runs it through the service's own charge_hour, next to today's,
so one run prints both figures. Not used by the service.
"""

from sqlalchemy import text

from berth_billing.metering.dao import CHARGES, POSTING, WALLET_TOTALS

REVISION = None  # today's schema: the statement changed, not the tables

ANTI_JOIN = """
          AND NOT EXISTS (SELECT 1 FROM billing.usage_charges u
                          WHERE u.hour = :hour AND u.instance_id = s.instance_id)
        ORDER BY s.account_id
"""
ON_CONFLICT = """
        ORDER BY s.account_id
        ON CONFLICT (hour, instance_id) DO NOTHING
"""
assert ANTI_JOIN in CHARGES, "today's statement changed: update the previous one"

CHARGE_HOUR = text(CHARGES.replace(ANTI_JOIN, ON_CONFLICT) + WALLET_TOTALS + POSTING)
CHARGE_WORK_MEM = text("SET LOCAL work_mem TO DEFAULT")
