"""The deploy worker SIGKILLed in a loop under a steady load of deploys: a few real web apps
from a local git repository, each deployed again as soon as its previous deploy ended (a
first deploy, then zero-downtime redeploys: build, start, route switch, drain, stop of the
old instance). The kills are aimed: one mid-build, one while the new instance starts, one
after it went live (the old instance draining and stopping). A killed worker leaves its
operation on a lease; the node supervisor reaps it once the lease lapses and queues it again
(attempt n+1), and the next worker takes it over.

Counted per requested deploy: one terminal outcome reached (lost: still queued or running),
one `deploy.operation.finished` for its `started`, and exactly one instance of it went live
(duplicated: a step run again by the retry, e.g. a second instance started and made live for
the same deployment). Counted per instance that went live: one `deploy.instance.started`
(billing's charge begins there) and, once ended, one end event. At the end each app has one
running instance serving through Traefik, and no ended instance's process still runs. An
event the outbox published twice under its own event id (a relay killed between the broker's
confirm and its commit) is what the consumers' dedupe by event id is for: counted apart."""

import itertools
import time
import uuid
from collections import Counter, defaultdict

import httpx
import pytest
from deploy_e2e import (
    DONE,
    EventTap,
    create_app,
    operation,
    request,
    sign_in,
    sql,
    via_traefik,
)
from deploy_testkit import make_repo, web_app_files
from support import register_and_verify

from berth_deploy.sandbox.local import read_stat
from berth_testing.faults import (
    SteadyLoad,
    kill_worker_repeatedly,
    lost_and_duplicated,
    record,
    settle,
    wait_for,
)

FAULT_SERVICES = ("auth", "deploy")
FAULT_WORKERS = ("auth", "deploy")
FAULT_ENV = {
    # a lost worker is noticed within seconds (tests/conftest.py's e2e values)
    "DEPLOY_LEASE_SECONDS": "6",
    "DEPLOY_HEARTBEAT_SECONDS": "1",
    "DEPLOY_RESTART_BACKOFF_SECONDS": "0.3",
    # three kills may all land on one deploy: it still has an attempt left
    "DEPLOY_MAX_ATTEMPTS": "5",
}
KILLS = 3
APPS = 3
# where each kill lands: mid-build, while the new instance starts, and after it went live
# (the old one draining and stopping: the deploy's last steps, which a retry must not redo)
AIMS = ("build", "start", "stop_old")


class Deploys:
    """`step()`: the next app (round robin) deployed again once its previous deploy ended;
    the new operation's id. Each app has one deploy at a time, so nothing is superseded."""

    def __init__(self, edge: httpx.Client, who, repo_url: str) -> None:
        self.edge, self.who, self.repo_url = edge, who, repo_url
        self.apps: list[dict] = []
        self.last: dict[str, str] = {}  # app id -> its latest deploy's operation id
        self.app_of: dict[str, str] = {}  # operation id -> app id
        self.turn = itertools.cycle(range(APPS))

    def step(self) -> str:
        index = next(self.turn)
        if index == len(self.apps):
            self.apps.append(create_app(self.edge, self.who, self.repo_url))
        app_id = self.apps[index]["id"]
        if app_id in self.last:
            ended = self.wait_ended(app_id, self.last[app_id], 240)
            assert ended, f"deploy {self.last[app_id]} of app {app_id} did not end"
        op_id = request(self.edge, self.who, app_id, "deploy")["id"]
        self.last[app_id] = op_id
        self.app_of[op_id] = app_id
        return op_id

    def wait_ended(self, app_id: str, op_id: str, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if operation(self.edge, self.who, app_id, op_id)["status"] in DONE:
                return True
            time.sleep(0.3)
        return False


def at_step(plat, step: str, timeout: float = 90) -> str:
    """Once a deploy runs its `step`: the step (or "elsewhere" if none reached it in time)."""
    try:
        wait_for(
            lambda: sql(
                plat,
                "SELECT 1 FROM deploy.operations WHERE status = 'running' AND step = :step",
                step=step,
            ),
            timeout,
            f"a deploy at its {step} step",
            interval=0.02,
        )
    except TimeoutError:
        return "elsewhere"
    return step


def outcomes(plat, op_ids: list[str]) -> dict[str, str]:
    rows = sql(
        plat,
        "SELECT id::text, status FROM deploy.operations WHERE id::text = ANY(:ids)",
        ids=op_ids,
    )
    return dict(rows)


def went_live(plat, op_ids: list[str]) -> Counter:
    """Per deploy, its instances that went live (a started_at: billed from there)."""
    rows = sql(
        plat,
        "SELECT o.id::text, count(i.id) FROM deploy.operations o "
        "LEFT JOIN deploy.instances i ON i.operation_id = o.id AND i.started_at IS NOT NULL "
        "WHERE o.id::text = ANY(:ids) GROUP BY o.id",
        ids=op_ids,
    )
    return Counter(dict(rows))


def events_by(tap: EventTap, key_suffix: str, field: str) -> dict[str, set[str]]:
    """Distinct event ids of the events whose key ends in `key_suffix`, by payload[field]."""
    found: dict[str, set[str]] = defaultdict(set)
    for event in tap.drain():
        if event["key"].endswith(key_suffix):
            found[event["payload"][field]].add(event["event_id"])
    return found


def still_running(plat, app_ids: list[str]) -> list[str]:
    """Ended instances of these apps whose process (pid and start time) still runs."""
    rows = sql(
        plat,
        "SELECT id::text, pid, proc_start FROM deploy.instances WHERE app_id::text = ANY(:apps) "
        "AND status IN ('stopped', 'failed') AND pid IS NOT NULL",
        apps=app_ids,
    )
    leaked = []
    for instance_id, pid, started in rows:
        stat = read_stat(pid)
        if stat is not None and stat[1] not in ("Z", "X") and stat[3] == started:
            leaked.append(instance_id)
    return leaked


@pytest.mark.timeout(900)
def test_deploys_survive_deploy_worker_kills_each_going_live_once(fault_platform, deploy_node):
    plat = fault_platform.platform
    repo = make_repo(plat.work.parent / f"repo-{uuid.uuid4().hex[:6]}", web_app_files("v1"))
    tap = EventTap(plat, "deploy.*.*")
    try:
        with httpx.Client(base_url=plat.public_url, timeout=30) as edge:
            who = sign_in(edge, register_and_verify(plat, edge))
            deploys = Deploys(edge, who, f"file://{repo}")
            with SteadyLoad(deploys.step, pause=0.2) as load:
                landed = kill_worker_repeatedly(
                    plat, "deploy", KILLS, load, aim=lambda n: at_step(plat, AIMS[n % len(AIMS)])
                )
            assert load.refused == [], load.refused[:5]
            ops = list(load.done)
            apps = [a["id"] for a in deploys.apps]

            ended = settle(
                lambda: {op: int(s in DONE) for op, s in outcomes(plat, ops).items()},
                "every deploy ended",
                timeout=300,
            )
            final = outcomes(plat, ops)
            live = went_live(plat, ops)
            serving = {a["id"]: via_traefik(plat, a["slug"]).text for a in deploys.apps}
        running = Counter(
            dict(
                sql(
                    plat,
                    "SELECT app_id::text, count(*) FROM deploy.instances "
                    "WHERE app_id::text = ANY(:apps) AND status = 'running' GROUP BY app_id",
                    apps=apps,
                )
            )
        )
        leaked = still_running(plat, apps)
        time.sleep(2)  # the last events leave the outbox
        op_started = events_by(tap, ".operation.started", "operation_id")
        op_finished = events_by(tap, ".operation.finished", "operation_id")
        inst_started = events_by(tap, ".instance.started", "instance_id")
        inst_ended = events_by(tap, ".instance.stopped", "instance_id")
        repeats = sum(n - 1 for n in Counter(e["event_id"] for e in tap.seen).values() if n > 1)
    finally:
        tap.close()

    lost, _ = lost_and_duplicated(ended)
    _, live_twice = lost_and_duplicated(live)
    outcome_counts = Counter(final.values())
    instances = sql(
        plat,
        "SELECT id::text, stopped_at IS NOT NULL FROM deploy.instances "
        "WHERE app_id::text = ANY(:apps) AND started_at IS NOT NULL",
        apps=apps,
    )
    starts = {i: len(inst_started.get(i, ())) for i, _ in instances}
    ends = {i: len(inst_ended.get(i, ())) for i, stopped in instances if stopped}
    finishes = {op: len(op_finished.get(op, ())) for op in ops if op in op_started}
    record(
        f"deploy worker kills: {KILLS} SIGKILLs (during {', '.join(landed)}), {len(ops)} deploys of {len(apps)} apps "
        f"({dict(outcome_counts)}), deploys lost {lost}, went live twice {live_twice}, "
        f"instance started events lost/duplicated {lost_and_duplicated(starts)}, "
        f"end events lost/duplicated {lost_and_duplicated(ends)}, operation finished events "
        f"lost/duplicated {lost_and_duplicated(finishes)}, running instances per app "
        f"{sorted(running.values())}, ended instances still running {len(leaked)}, "
        f"events published again under the same id {repeats}"
    )
    assert (lost, live_twice) == (0, 0)
    assert outcome_counts == {"succeeded": len(ops)}, final
    assert all(live[op] == 1 for op in ops), live
    assert lost_and_duplicated(starts) == (0, 0)
    assert lost_and_duplicated(ends) == (0, 0)
    assert set(finishes) == set(ops) and lost_and_duplicated(finishes) == (0, 0)
    assert all(running[a] == 1 for a in apps), running
    assert leaked == []
    assert set(serving.values()) == {"hello v1"}, serving
