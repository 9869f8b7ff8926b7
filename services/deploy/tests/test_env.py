"""Env vars: encrypted at rest, secret values write-only, names checked, keys rotatable."""

import uuid

import pytest
from cryptography.fernet import Fernet
from fixtures_deploy import API, new_app
from sqlalchemy import select

from berth_deploy.env.service import EnvCipher, plain_env
from berth_deploy.models import EnvVar
from berth_deploy.validation import FORBIDDEN_ENV

# glibc's unsecure envvars (sysdeps/generic/unsecvars.h), written out, plus shell hooks
LOADER_AND_HIJACK_NAMES = [
    "LD_PRELOAD", "LD_AUDIT", "LD_LIBRARY_PATH", "LD_DEBUG", "LD_DEBUG_OUTPUT", "LD_BIND_NOW",
    "LD_BIND_NOT", "LD_DYNAMIC_WEAK", "LD_HWCAP_MASK", "LD_ORIGIN_PATH", "LD_PROFILE",
    "LD_SHOW_AUXV", "LD_USE_LOAD_BIAS", "LD_ASSUME_KERNEL", "LD_PREFER_MAP_32BIT_EXEC",
    "GCONV_PATH", "GETCONF_DIR", "GLIBC_TUNABLES", "HOSTALIASES", "LOCALDOMAIN", "LOCPATH",
    "MALLOC_ARENA_MAX", "MALLOC_ARENA_TEST", "MALLOC_CHECK_", "MALLOC_MMAP_MAX_",
    "MALLOC_MMAP_THRESHOLD_", "MALLOC_PERTURB_", "MALLOC_TOP_PAD_", "MALLOC_TRACE",
    "MALLOC_TRIM_THRESHOLD_", "NIS_PATH", "NLSPATH", "RESOLV_HOST_CONF", "RES_OPTIONS",
    "TMPDIR", "TZDIR", "BASH_ENV", "ENV", "BASH_FUNC_ls", "SHELLOPTS", "BASHOPTS", "PS4",
    "PROMPT_COMMAND", "IFS", "ld_preload", "Ld_Audit",
]  # fmt: skip


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


@pytest.fixture(scope="module")
async def env_app(deploy_http, person):
    ada = person()
    return ada, await new_app(deploy_http, ada, None, template="n8n")


def test_every_forbidden_name_is_in_the_list_tested():
    assert FORBIDDEN_ENV <= {n.upper() for n in LOADER_AND_HIJACK_NAMES}


@pytest.mark.parametrize("name", LOADER_AND_HIJACK_NAMES)
async def test_loader_and_interpreter_hijack_names_are_refused(deploy_http, env_app, name):
    ada, app = env_app
    base = f"{API}/apps/{app['id']}/env"
    one = await deploy_http.put(f"{base}/{name}", json={"value": "/tmp/x.so"}, headers=ada.headers)
    assert one.status_code == 422, one.text
    error = one.json()["error"]
    assert error["code"] == "validation_error"
    assert (
        error["message"]
        == f"{name} changes how programs are loaded or started, so it is not allowed"
    )
    assert error["details"] == {"field": "name", "name": name}

    bulk = await deploy_http.patch(
        base,
        json={"vars": [{"name": "FINE", "value": "1"}, {"name": name, "value": "x"}]},
        headers=ada.headers,
    )
    assert bulk.status_code == 422, bulk.text
    [problem] = bulk.json()["error"]["details"]
    assert problem["loc"] == ["body", "vars", 1, "name"]
    assert "changes how programs are loaded or started" in problem["msg"]

    created = await deploy_http.post(
        f"{API}/apps",
        json={
            "slug": f"t-{uuid.uuid4().hex[:10]}",
            "template": "n8n",
            "env": [{"name": name, "value": "x"}],
        },
        headers=ada.headers,
    )
    assert created.status_code == 422, created.text
    assert created.json()["error"]["details"][0]["loc"] == ["body", "env", 0, "name"]
    listed = (await deploy_http.get(base, headers=ada.headers)).json()
    assert listed == []  # nothing of the refused requests was kept


@pytest.mark.parametrize("name", ["LDAP_URL", "MY_LD_PRELOAD", "ENVIRONMENT", "NODE_ENV", "TZ"])
async def test_names_that_merely_look_alike_are_fine(deploy_http, env_app, name):
    ada, app = env_app
    r = await deploy_http.put(
        f"{API}/apps/{app['id']}/env/{name}", json={"value": "x"}, headers=ada.headers
    )
    assert r.status_code == 200, r.text
    await deploy_http.delete(f"{API}/apps/{app['id']}/env/{name}", headers=ada.headers)


async def test_a_refused_name_stored_before_the_rule_never_reaches_the_app(
    deploy_http, deploy_app, deploy_settings, person
):
    ada = person()
    app = await new_app(deploy_http, ada, None, template="n8n", env=[{"name": "A", "value": "1"}])
    cipher = EnvCipher.from_settings(deploy_settings)
    app_id = uuid.UUID(app["id"])
    async with deploy_app.state.db.sessionmaker() as session, session.begin():
        session.add(EnvVar(app_id=app_id, name="LD_PRELOAD", value_encrypted=cipher.encrypt("x")))
    async with deploy_app.state.db.sessionmaker() as session:
        plain = await plain_env(session, cipher, app_id)
    assert plain.values == {"A": "1"}
    listed = (await deploy_http.get(f"{API}/apps/{app['id']}/env", headers=ada.headers)).json()
    assert [v["name"] for v in listed] == ["A", "LD_PRELOAD"]  # shown, so its owner can delete it
    r = await deploy_http.delete(f"{API}/apps/{app['id']}/env/LD_PRELOAD", headers=ada.headers)
    assert r.status_code == 204


async def test_the_whole_env_of_an_app_is_limited_in_bytes_and_count(
    deploy_http, deploy_settings, person
):
    assert deploy_settings.env_max_bytes == 64 * 1024 and deploy_settings.env_max_vars == 100
    ada = person()
    app = await new_app(deploy_http, ada, None, template="n8n")
    base = f"{API}/apps/{app['id']}/env"
    big = "x" * 30_000
    for name in ("A", "B"):
        r = await deploy_http.put(f"{base}/{name}", json={"value": big}, headers=ada.headers)
        assert r.status_code == 200, r.text
    r = await deploy_http.put(f"{base}/C", json={"value": big}, headers=ada.headers)
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] == "env_too_large"
    assert r.json()["error"]["details"] == {"limit_bytes": 65536, "size_bytes": 90_003}
    # a multi-byte value counts in bytes: 1000 x "é" is 2000 bytes
    r = await deploy_http.patch(
        base, json={"vars": [{"name": "C", "value": "é" * 2000}]}, headers=ada.headers
    )
    assert r.status_code == 200, r.text  # 64,003 bytes
    r = await deploy_http.put(f"{base}/D", json={"value": "é" * 1000}, headers=ada.headers)
    assert r.status_code == 422 and r.json()["error"]["details"]["size_bytes"] == 66_004
    # replacing a value with a smaller one is always possible, and nothing refused was kept
    r = await deploy_http.put(f"{base}/A", json={"value": "small"}, headers=ada.headers)
    assert r.status_code == 200, r.text
    names = [v["name"] for v in (await deploy_http.get(base, headers=ada.headers)).json()]
    assert names == ["A", "B", "C"]

    many = [{"name": f"V{i}", "value": "1"} for i in range(98)]
    r = await deploy_http.patch(base, json={"vars": many}, headers=ada.headers)
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] == "env_too_many_vars"
    assert r.json()["error"]["details"] == {"limit": 100, "count": 101}
    r = await deploy_http.patch(base, json={"vars": many[:97]}, headers=ada.headers)
    assert r.status_code == 200 and len(r.json()) == 100


async def test_an_app_created_with_too_large_an_env_is_not_created(deploy_http, person):
    ada = person()
    slug = f"t-{uuid.uuid4().hex[:10]}"
    env = [{"name": f"K{i}", "value": "v" * 20_000} for i in range(4)]
    r = await deploy_http.post(
        f"{API}/apps", json={"slug": slug, "template": "n8n", "env": env}, headers=ada.headers
    )
    assert r.status_code == 422 and r.json()["error"]["code"] == "env_too_large", r.text
    listed = await deploy_http.get(f"{API}/apps", params={"q": slug}, headers=ada.headers)
    assert listed.json()["total"] == 0
    r = await deploy_http.post(
        f"{API}/apps", json={"slug": slug, "template": "n8n", "env": env[:3]}, headers=ada.headers
    )
    assert r.status_code == 201, r.text


async def test_one_variable_shape_for_app_create_and_bulk_set(deploy_http, env_app):
    """The same EnvVarCreate serves both: an unknown field is refused in either."""
    ada, app = env_app
    item = {"name": "FINE", "value": "1", "secret": False, "ttl": 5}
    bulk = await deploy_http.patch(
        f"{API}/apps/{app['id']}/env", json={"vars": [item]}, headers=ada.headers
    )
    assert bulk.status_code == 422, bulk.text
    assert bulk.json()["error"]["details"][0]["loc"] == ["body", "vars", 0, "ttl"]
    created = await deploy_http.post(
        f"{API}/apps",
        json={"slug": f"t-{uuid.uuid4().hex[:10]}", "template": "n8n", "env": [item]},
        headers=ada.headers,
    )
    assert created.status_code == 422, created.text
    assert created.json()["error"]["details"][0]["loc"] == ["body", "env", 0, "ttl"]
