"""The hourly metering statements as they were before the ledger_at_scale revision (billing
0dcff283bb60): bench/billing_metering.py runs them on a database downgraded to the revision
before it, next to today's, so one run prints both figures. Not used by the service.
"""

from sqlalchemy import text

PREVIOUS_REVISION = "ce99d928a5a7"

CHARGE_HOUR = text(
    """
    WITH prices AS (
        SELECT DISTINCT ON (plan_key) plan_key, amount_per_hour, currency
        FROM billing.plan_prices
        WHERE valid_from <= :hour
        ORDER BY plan_key, valid_from DESC
    ), spans AS (
        SELECT i.instance_id, i.account_id, i.app_id, i.app_slug, i.plan_key,
               CAST(ceil(extract(epoch FROM
                   LEAST(COALESCE(i.stopped_at, CAST('infinity' AS timestamptz)), :hour_end)
                   - GREATEST(i.started_at, :hour)) / 60.0) AS integer) AS minutes
        FROM billing.usage_intervals i
        WHERE i.started_at IS NOT NULL
          AND i.started_at < :hour_end
          AND (i.stopped_at IS NULL OR i.stopped_at > :hour)
          AND (CAST(:changed_since AS timestamptz) IS NULL
               OR i.updated_at >= CAST(:changed_since AS timestamptz))
    )
    INSERT INTO billing.usage_charges
        (instance_id, hour, account_id, app_id, app_slug, plan_key, minutes, unit_price,
         amount, currency, transaction_id)
    SELECT s.instance_id, CAST(:hour AS timestamptz), s.account_id, s.app_id, s.app_slug,
           s.plan_key, s.minutes,
           p.amount_per_hour, (p.amount_per_hour * s.minutes + 30) / 60, p.currency,
           CASE WHEN (p.amount_per_hour * s.minutes + 30) / 60 > 0 THEN CAST(:txn AS uuid) END
    FROM spans s JOIN prices p ON p.plan_key = s.plan_key
    WHERE s.minutes > 0
    ON CONFLICT (instance_id, hour) DO NOTHING
    """
)

CHARGED_TOTALS = text(
    """
    SELECT currency, count(*) AS charges, CAST(COALESCE(sum(amount), 0) AS bigint) AS amount
    FROM billing.usage_charges WHERE transaction_id = :txn GROUP BY currency
    """
)

# All entries of the hour's journal transaction in one statement: a debit per charge on the
# holder's wallet, and the total credited to revenue (per currency).
POST_CHARGES = text(
    """
    WITH c AS (
        SELECT c.account_id, c.amount, c.currency,
               format('%s · %s · %s min', COALESCE(c.app_slug, CAST(c.app_id AS text), 'app'),
                      c.plan_key, c.minutes) AS memo
        FROM billing.usage_charges c WHERE c.transaction_id = :txn
    )
    INSERT INTO billing.ledger_entries
        (transaction_id, account_id, amount, currency, kind, memo, occurred_at)
    SELECT CAST(:txn AS uuid), c.account_id, -c.amount, c.currency, 'usage', c.memo,
           CAST(:hour AS timestamptz)
    FROM c
    UNION ALL
    SELECT CAST(:txn AS uuid), r.id, t.total, t.currency, 'usage', 'usage revenue',
           CAST(:hour AS timestamptz)
    FROM (SELECT currency, sum(amount) AS total FROM c GROUP BY currency) t
    JOIN billing.accounts r
      ON r.kind = 'revenue' AND r.owner_id IS NULL AND r.currency = t.currency
    """
)
