"""Quotas and limits, through Traefik with the platform as real processes: live log streams
per person."""

import contextlib

import httpx
import pytest
from deploy_e2e import API, deployed, ensure_supervisor, kill_apps, sign_in
from deploy_testkit import make_repo, wait_for, web_app_files


@pytest.fixture(scope="module", autouse=True)
def node(platform):
    ensure_supervisor(platform)
    yield
    kill_apps(platform)


@pytest.fixture(scope="module")
def grace(platform, register_verified):
    with httpx.Client(base_url=platform.public_url, timeout=20) as edge:
        return sign_in(edge, register_verified())


def test_live_log_streams_per_person_are_limited(edge, platform, grace, tmp_path):
    repo = make_repo(tmp_path / "repo", web_app_files("v1"))
    app = deployed(edge, platform, grace, f"file://{repo}")
    url = f"{platform.public_url}{API}/apps/{app['id']}/logs/stream"
    params = {"kind": "run"}  # the app runs: its run log stays open

    with contextlib.ExitStack() as held, httpx.Client(timeout=30) as client:

        def open_stream() -> httpx.Response:
            return held.enter_context(
                client.stream("GET", url, params=params, headers=grace.headers)
            )

        streams = [open_stream() for _ in range(5)]
        assert [s.status_code for s in streams] == [200] * 5
        refused = client.get(url, params=params, headers=grace.headers)
        assert refused.status_code == 429, refused.text
        assert refused.headers["retry-after"] == "5"
        error = refused.json()["error"]
        assert error["code"] == "too_many_log_streams"
        assert error["details"] == {"limit": 5, "open": 5, "retry_after": 5}

        streams[0].close()  # one stream ends: its place is free once the service sees it go

        def another() -> bool:
            with client.stream("GET", url, params=params, headers=grace.headers) as r:
                return r.status_code == 200

        wait_for(another, 15, "a place for a new stream")
