"""A real HTTP server for the deploy app (git needs one) behind the tests' Traefik, and a git
client that pushes to it with a deploy token."""

import asyncio
import os
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path

import httpx
import uvicorn
import yaml
from deploy_testkit import GIT_ENV
from fastapi import FastAPI

from berth_testing.processes import free_port

API = "/api/deploy/v1"


@dataclass
class GitServer:
    app: FastAPI
    url: str  # Traefik's entry point, routing /git/ to this server


async def serve(app: FastAPI, traefik_url: str, dynamic_dir: Path) -> tuple[uvicorn.Server, str]:
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    task = asyncio.create_task(server.serve())
    server.task = task  # type: ignore[attr-defined]
    for _ in range(300):
        if server.started:
            break
        await asyncio.sleep(0.05)
    name = f"git-push-tests-{port}"
    route = {
        "http": {
            "routers": {
                name: {
                    "entryPoints": ["web"],
                    "rule": "PathPrefix(`/git/`)",
                    "service": name,
                    "priority": 500000,
                }
            },
            "services": {
                name: {"loadBalancer": {"servers": [{"url": f"http://127.0.0.1:{port}"}]}}
            },
        }
    }
    (dynamic_dir / f"{name}.yml").write_text(yaml.safe_dump(route))
    async with httpx.AsyncClient() as client:
        for _ in range(300):
            r = await client.get(f"{traefik_url}/git/x.git/info/refs?service=git-upload-pack")
            if r.status_code == 401:
                break
            await asyncio.sleep(0.1)
    return server, traefik_url


async def create_token(http, who, app_id: str, name: str = "laptop") -> dict:
    r = await http.post(
        f"{API}/apps/{app_id}/deploy-tokens", json={"name": name}, headers=who.headers
    )
    assert r.status_code == 201, r.text
    return r.json()


def remote(base: str, slug: str, token: str, user: str = "git") -> str:
    host = base.removeprefix("http://")
    return f"http://{user}:{token}@{host}/git/{slug}.git"


@dataclass
class GitResult:
    code: int
    output: str


async def git(repo: Path, *args: str, timeout: float = 180) -> GitResult:
    """A git command in `repo` (never prompting), its exit code and its whole output."""
    env = {**GIT_ENV, "GIT_TERMINAL_PROMPT": "0", "GIT_ASKPASS": "/bin/false", "LANG": "C"}
    env.update({k: v for k, v in os.environ.items() if k.startswith("GIT_TRACE")})
    proc = await asyncio.create_subprocess_exec(
        "git",
        "-C",
        str(repo),
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env=env,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), timeout)
    return GitResult(proc.returncode or 0, out.decode(errors="replace"))


def bare_refs(repo: Path) -> dict[str, str]:
    if not repo.exists():
        return {}
    out = subprocess.run(
        ["git", "--git-dir", str(repo), "for-each-ref", "--format=%(refname) %(objectname)"],
        env=GIT_ENV,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return dict(line.split(" ", 1) for line in out.splitlines())


def add_random_file(repo: Path, name: str, size: int) -> None:
    """A file git cannot compress, committed."""
    (repo / name).write_bytes(os.urandom(size))
    subprocess.run(["git", "-C", str(repo), "add", name], env=GIT_ENV, check=True)
    subprocess.run(["git", "-C", str(repo), "commit", "-qm", name], env=GIT_ENV, check=True)


def slug() -> str:
    return f"p-{uuid.uuid4().hex[:10]}"
