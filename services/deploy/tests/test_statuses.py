"""The status enums are the whole vocabulary: the app's state machine names every status
once, the list filter takes every status an app can be listed in, and the stored values
are the enums' (the columns stay strings)."""

from deploy_testkit import make_repo, web_app_files
from fixtures_deploy import new_app
from sqlalchemy import select

from berth_deploy.enums import AppStatus
from berth_deploy.models import App
from berth_deploy.operations.lifecycle import APP_TRANSITIONS, REQUESTABLE


def test_the_state_machine_names_every_app_status():
    assert set(APP_TRANSITIONS) == set(AppStatus)
    for targets in [*APP_TRANSITIONS.values(), *REQUESTABLE.values()]:
        assert all(isinstance(t, AppStatus) for t in targets)


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
