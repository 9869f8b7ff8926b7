"""Results storage: rollups agree with the raw results, a rerun does not double count, and
retention drops an expired day's partition whole (as the runtime role, which owns nothing)."""

import uuid
from datetime import UTC, datetime, timedelta

from fixtures_checks import Reply
from sqlalchemy import text

from berth_monitoring.results import service as results
from berth_monitoring.results.dao import ResultsDAO


async def _raw_count(session, seqs: list[int]) -> tuple[int, int]:
    row = (
        await session.execute(
            text(
                "SELECT count(*), count(*) FILTER (WHERE u.outcome = 0) "
                "FROM monitoring.results r, unnest(r.seqs, r.outcomes) AS u(seq, outcome) "
                "WHERE u.seq = ANY(:seqs)"
            ),
            {"seqs": seqs},
        )
    ).one()
    return int(row[0]), int(row[1])


async def _rollup_counts(session, table: str, ids: list[uuid.UUID], seqs: list[int]):
    if table == "rollup_minutes":
        sql = (
            "SELECT coalesce(sum(x.n), 0), coalesce(sum(x.up), 0) "
            "FROM monitoring.rollup_minutes rm, unnest(rm.checks, rm.up_checks) AS x(n, up) "
            "WHERE rm.monitor_seq = ANY(:seqs)"
        )
    else:
        sql = (
            f"SELECT coalesce(sum(checks), 0), coalesce(sum(up_checks), 0) "
            f"FROM monitoring.{table} WHERE monitor_id = ANY(:ids)"
        )
    row = (await session.execute(text(sql), {"seqs": seqs, "ids": ids})).one()
    return int(row[0]), int(row[1])


async def _roll_everything(checker) -> None:
    async def again(session):
        return await results.rollup(session, now=datetime.now(UTC) + timedelta(minutes=3))

    for _ in range(20):
        _, end = await checker.in_transaction(again)
        if end >= datetime.now(UTC):
            return


async def test_rollups_equal_the_raw_counts_and_reruns_do_not_double(checker, target_server):
    path = f"/rolled-{uuid.uuid4().hex[:6]}"
    target_server.replies[path] = Reply(200)
    ids = [await checker.monitor(url=target_server.url(path) + f"?{i}") for i in range(3)]
    for n in range(4):
        target_server.replies[path] = Reply(500 if n == 1 else 200)
        await checker.tick(*ids)
    seqs = [(await checker.get(i)).seq for i in ids]

    await _roll_everything(checker)
    async with checker.db.sessionmaker() as session:
        raw = await _raw_count(session, seqs)
        assert raw == (12, 9)
        for table in ("rollup_minutes", "rollup_hours", "rollup_days"):
            assert await _rollup_counts(session, table, ids, seqs) == raw, table

    # the same minutes rolled up again (a retried task) replace, never add
    async def rewind(session):
        await session.execute(
            text(
                "UPDATE monitoring.rollup_watermarks SET done_until = done_until - "
                "interval '30 minutes' WHERE name = 'minutes'"
            )
        )

    await checker.in_transaction(rewind)
    await _roll_everything(checker)
    async with checker.db.sessionmaker() as session:
        for table in ("rollup_minutes", "rollup_hours", "rollup_days"):
            assert await _rollup_counts(session, table, ids, seqs) == (12, 9), table
        ratios = await results.uptime(session, ids, ("1h", "24h", "7d", "30d"))
        assert ratios[ids[0]] == {"1h": 0.75, "24h": 0.75, "7d": 0.75, "30d": 0.75}
        bars = await results.day_bars(session, ids[:1], days=3)
        assert [ratio for _, ratio in bars[ids[0]]][-1] == 0.75
        series = await results.latency_series(
            session, ids[0], datetime.now(UTC) - timedelta(hours=1), timedelta(minutes=1)
        )
        assert sum(1 for *_, up in series if up is not None) >= 1
        failures = await results.recent_failures(session, ids[0], 10)
        assert [f["status"] for f in failures] == [500]


async def test_retention_drops_an_expired_day_whole_and_makes_days_ahead(checker, checks_settings):
    today = datetime.now(UTC).date()
    old_day = today - timedelta(days=checks_settings.raw_retention_days + 3)

    async def old_partition(session):
        dao = ResultsDAO(session)
        await dao.ensure_partitions(old_day, 1)
        at = datetime(old_day.year, old_day.month, old_day.day, 12, tzinfo=UTC)
        await session.execute(
            text(
                "INSERT INTO monitoring.results (at, batch, seqs, offsets_ms, latency_ms, "
                "outcomes) VALUES (:at, :b, '{1}', '{0}', '{5}', '{0}')"
            ),
            {"at": at, "b": uuid.uuid4()},
        )

    await checker.in_transaction(old_partition)
    suffix = old_day.strftime("%Y%m%d")
    async with checker.db.sessionmaker() as session:
        assert f"results_p{suffix}" in await ResultsDAO(session).partitions("results")

    done = await checker.in_transaction(lambda s: results.retention(s, checks_settings))
    assert done["results"] >= 1
    async with checker.db.sessionmaker() as session:
        dao = ResultsDAO(session)
        for table in ("results", "result_failures", "rollup_minutes"):
            names = await dao.partitions(table)
            assert f"{table}_p{suffix}" not in names
            for ahead in range(3):
                day = (today + timedelta(days=ahead)).strftime("%Y%m%d")
                assert f"{table}_p{day}" in names
