"""Builds: the template's steps (a virtualenv, requirements from PyPI), the app's own build
command, the run command's precedence (app > Procfile > template), and what ends up on disk."""

import stat
import uuid

import httpx
from deploy_testkit import make_repo, web_app_files
from fixtures_deploy import API, ask, build_log, deployed


def through(traefik, slug: str) -> str:
    return httpx.get(traefik.url, headers={"Host": f"{slug}.apps.localhost"}, timeout=10).text


async def test_requirements_are_installed_from_pypi_into_the_release(
    deploy_http, deploy_node, person, tmp_path
):
    files = web_app_files("v1", **{"requirements.txt": "six==1.16.0\n"})
    repo = make_repo(tmp_path / "repo", files)
    ada = person()
    app = await deployed(
        deploy_http,
        deploy_node,
        ada,
        repo,
        build_command="python -c 'import six; print(\"six\", six.__version__)'",
    )
    assert app["status"] == "running", await build_log(deploy_http, ada, app)
    assert "six 1.16.0" in await build_log(deploy_http, ada, app)


async def test_run_command_precedence_and_release_files(
    deploy_http, deploy_node, deploy_settings, deploy_traefik, person, tmp_path
):
    files = web_app_files("v1")
    files["server.py"] = files.pop("app.py")
    repo = make_repo(tmp_path / "repo", {**files, "Procfile": "web: python server.py\n"})
    ada = person()
    app = await deployed(deploy_http, deploy_node, ada, repo)  # the template says app.py
    assert app["status"] == "running"
    assert through(deploy_traefik, app["slug"]) == "hello v1"

    release = (
        deploy_settings.data_dir / "apps" / app["id"] / "releases" / app["current_release"]["id"]
    )
    assert (release / "server.py").exists() and not (release / ".git").exists()
    assert (release / ".venv/bin/python").exists()
    owner = release.stat().st_uid
    assert owner != 0 and stat.S_IMODE(release.stat().st_mode) == 0o700
    data = release.parent.parent / "data"
    assert data.stat().st_uid == owner and stat.S_IMODE(data.stat().st_mode) == 0o700

    r = await deploy_http.patch(
        f"{API}/apps/{app['id']}",
        json={"run_command": "GREETING=overridden python server.py"},
        headers=ada.headers,
    )
    assert r.status_code == 200
    await ask(deploy_http, ada, app["id"], "restart")
    await deploy_node.run_all(uuid.UUID(app["id"]))
    assert through(deploy_traefik, app["slug"]) == "hello v1 overridden"
    assert release.is_dir()  # a restart reuses the release's build
