"""The status and kind enums are the whole vocabulary: the app's state machine names every
status once, every operation kind is requestable somewhere and has a flow, the list filter
takes every status an app can be listed in, and the stored values are the enums' (the
columns stay strings)."""

from deploy_testkit import make_repo, web_app_files
from fixtures_deploy import new_app
from sqlalchemy import select

from berth_deploy.enums import AppStatus, OperationKind, OperationOrigin, OperationStep
from berth_deploy.models import App
from berth_deploy.operations.flows import FLOWS
from berth_deploy.operations.lifecycle import (
    APP_TRANSITIONS,
    CANCELLABLE_STEPS,
    CANCELLED_BY,
    DEPLOY_KINDS,
    QUEUEABLE,
    REQUESTABLE,
    STARTS_PROCESSES,
    STOPS_PROCESSES,
)


def test_the_state_machine_names_every_app_status():
    assert set(APP_TRANSITIONS) == set(AppStatus)
    for targets in [*APP_TRANSITIONS.values(), *REQUESTABLE.values()]:
        assert all(isinstance(t, AppStatus) for t in targets)


def test_every_operation_kind_is_requestable_and_has_a_flow():
    """A kind added to the enum but not to the tables would be refused or never run."""
    assert set(REQUESTABLE) == set(OperationKind)
    assert set(FLOWS) == set(OperationKind)
    for kinds in (QUEUEABLE, DEPLOY_KINDS, STARTS_PROCESSES, STOPS_PROCESSES, CANCELLED_BY):
        assert all(isinstance(k, OperationKind) for k in kinds)


def test_kind_origin_and_step_values_are_the_stored_strings():
    assert [k.value for k in OperationKind] == [
        "deploy", "rollback", "start", "stop", "restart", "suspend", "resume", "delete"
    ]  # fmt: skip
    assert [o.value for o in OperationOrigin] == ["user", "billing", "admin"]
    assert [s.value for s in OperationStep] == [
        "clone", "build", "start", "route", "stop_old", "stop"
    ]  # fmt: skip
    assert CANCELLABLE_STEPS - {None} <= set(OperationStep)


async def test_the_list_filter_takes_every_listed_status_and_refuses_others(deploy_http, person):
    ada = person()
    for status in AppStatus:
        r = await deploy_http.get(
            "/api/deploy/v1/apps", params={"status": status}, headers=ada.headers
        )
        assert r.status_code == (422 if status == AppStatus.DELETED else 200), status
    r = await deploy_http.get(
        "/api/deploy/v1/apps", params={"status": "paused"}, headers=ada.headers
    )
    assert r.status_code == 422


async def test_a_new_app_is_stored_with_the_enum_value(deploy_http, deploy_node, person, tmp_path):
    ada = person()
    app = await new_app(deploy_http, ada, make_repo(tmp_path / "repo", web_app_files("v1")))

    async def stored(session):
        return (await session.execute(select(App.status).where(App.id == app["id"]))).scalar()

    assert app["status"] == AppStatus.CREATED.value
    assert await deploy_node.ctx.tx(stored) == "created"
