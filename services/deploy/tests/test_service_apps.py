"""Any app by id for the platform's services (chat asks whether a customer's agent runs):
machine clients with deploy:read and admins only; a customer never reads another's app here."""

import os
import uuid

from deploy_testkit import make_repo
from fixtures_deploy import API, new_app

from berth_testing.oauth import bearer, mint_access_token


def machine(signing_jwks, scope: str) -> dict[str, str]:
    client = f"svc-{uuid.uuid4().hex[:8]}"
    token = mint_access_token(
        signing_jwks,
        issuer=os.environ["BERTH_PUBLIC_URL"],
        subject=client,
        client_id=client,
        roles=[],
        scope=scope,
    )
    return bearer(token)


async def test_services_read_any_app_with_deploy_read(deploy_http, person, signing_jwks, tmp_path):
    ada, bob = person(), person()
    repo = make_repo(tmp_path / "bot", {"bot.py": "print('up')\n"})
    app = await new_app(deploy_http, ada, repo, template="worker")
    url = f"{API}/service/apps/{app['id']}"

    r = await deploy_http.get(url, headers=machine(signing_jwks, "deploy:read"))
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["owner_id"], body["template"], body["slug"]) == (
        str(ada.id),
        "worker",
        app["slug"],
    )
    assert body["status"] == app["status"]

    assert (await deploy_http.get(url, headers=bob.headers)).status_code == 403
    assert (await deploy_http.get(url, headers=ada.headers)).status_code == 403
    r = await deploy_http.get(url, headers=machine(signing_jwks, "billing:read"))
    assert r.status_code == 403 and r.json()["error"]["code"] == "insufficient_scope"
    assert (await deploy_http.get(url)).status_code == 401
    assert (await deploy_http.get(url, headers=person(["admin"]).headers)).status_code == 200

    missing = f"{API}/service/apps/{uuid.uuid4()}"
    r = await deploy_http.get(missing, headers=machine(signing_jwks, "deploy:read"))
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
