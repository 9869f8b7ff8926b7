"""Env vars: encrypted at rest, secret values write-only, names checked, keys rotatable."""

import uuid

from cryptography.fernet import Fernet
from fixtures_deploy import API, new_app
from sqlalchemy import select

from berth_deploy.env.service import EnvCipher
from berth_deploy.models import EnvVar


async def test_values_are_encrypted_at_rest_and_secrets_never_shown(
    deploy_http, deploy_app, deploy_settings, person
):
    ada = person()
    app = await new_app(
        deploy_http, ada, None, template="n8n", env=[{"name": "MODE", "value": "prod"}]
    )
    base = f"{API}/apps/{app['id']}/env"
    r = await deploy_http.put(
        f"{base}/API_KEY", json={"value": "sk-live-abcdef", "secret": True}, headers=ada.headers
    )
    assert r.status_code == 200, r.text
    assert r.json()["value"] is None and r.json()["secret"] is True

    listed = (await deploy_http.get(base, headers=ada.headers)).json()
    assert [(v["name"], v["value"], v["secret"]) for v in listed] == [
        ("API_KEY", None, True),
        ("MODE", "prod", False),
    ]
    async with deploy_app.state.db.sessionmaker() as session:
        rows = (
            await session.execute(select(EnvVar).where(EnvVar.app_id == uuid.UUID(app["id"])))
        ).scalars()
        stored = {v.name: bytes(v.value_encrypted) for v in rows}
    assert b"sk-live-abcdef" not in stored["API_KEY"] and b"prod" not in stored["MODE"]
    cipher = EnvCipher.from_settings(deploy_settings)
    assert cipher.decrypt(stored["API_KEY"]) == "sk-live-abcdef"


async def test_bulk_set_delete_and_bad_names(deploy_http, person):
    ada = person()
    app = await new_app(deploy_http, ada, None, template="n8n")
    base = f"{API}/apps/{app['id']}/env"
    r = await deploy_http.patch(
        base,
        json={"vars": [{"name": "A", "value": "1"}, {"name": "B", "value": "2", "secret": True}]},
        headers=ada.headers,
    )
    assert [v["name"] for v in r.json()] == ["A", "B"]
    assert (await deploy_http.delete(f"{base}/A", headers=ada.headers)).status_code == 204
    assert (await deploy_http.delete(f"{base}/A", headers=ada.headers)).status_code == 404
    for name in ("PORT", "HOME", "path"):
        r = await deploy_http.put(f"{base}/{name}", json={"value": "x"}, headers=ada.headers)
        assert r.status_code == 422, name
    for bad in ("1ABC", "A-B", "A.B"):
        r = await deploy_http.put(f"{base}/{bad}", json={"value": "x"}, headers=ada.headers)
        assert r.status_code == 422, bad
    dup = {"vars": [{"name": "C", "value": "1"}, {"name": "C", "value": "2"}]}
    assert (await deploy_http.patch(base, json=dup, headers=ada.headers)).status_code == 422
    too_big = {"value": "x" * 40_000}
    assert (
        await deploy_http.put(f"{base}/BIG", json=too_big, headers=ada.headers)
    ).status_code == 422


def test_keys_rotate_new_key_first():
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    token = EnvCipher(old).encrypt("value")
    rotated = EnvCipher(f"{new},{old}")
    assert rotated.decrypt(token) == "value"
    assert EnvCipher(new).decrypt(rotated.encrypt("fresh")) == "fresh"
