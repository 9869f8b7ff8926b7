"""Helpers of the VPS unit tests: SSH keys, the node running VPS operations with the test
double of the driver, the API calls."""

import json
import uuid
from typing import Any

import httpx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from fake_machine import FakeMachine
from sqlalchemy import text

from berth_deploy.config import DeploySettings
from berth_deploy.vps.executor import VpsNode, run_next
from berth_deploy.vps.flows import FLOWS

API = "/api/deploy/v1/vps"


def ed25519_key(comment: str = "ada@laptop") -> str:
    key = ed25519.Ed25519PrivateKey.generate().public_key()
    blob = key.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    return f"{blob.decode()} {comment}"


def rsa_key(bits: int) -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits).public_key()
    return key.public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    ).decode()


def private_key_pem() -> str:
    key = ed25519.Ed25519PrivateKey.generate()
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.OpenSSH,
        serialization.NoEncryption(),
    ).decode()


class VpsRunner:
    """The worker's VPS code on this node, driven by the tests (operations run when told)."""

    def __init__(self, settings: DeploySettings, tx, machine: FakeMachine):
        self.node = VpsNode(settings, tx, lambda _settings: machine)
        self.owner = f"tests-vps:{uuid.uuid4().hex[:6]}"

    async def run_next(self, vps_id: str) -> bool:
        return await run_next(self.node, uuid.UUID(vps_id), self.owner, FLOWS)

    async def run_all(self, vps_id: str) -> None:
        while await self.run_next(vps_id):
            pass


async def order(http: httpx.AsyncClient, who, **fields: Any) -> dict[str, Any]:
    body = {"name": f"v-{uuid.uuid4().hex[:8]}", "plan": "vps-1", "ssh_public_key": ed25519_key()}
    r = await http.post(API, json={**body, **fields}, headers=who.headers)
    assert r.status_code == 202, r.text
    return r.json()


async def state(http: httpx.AsyncClient, who, vps_id: str) -> dict[str, Any]:
    r = await http.get(f"{API}/{vps_id}", headers=who.headers)
    assert r.status_code == 200, r.text
    return r.json()


async def act(http, who, vps_id: str, action: str, json=None, expect: int = 202) -> dict:
    r = await http.post(f"{API}/{vps_id}/actions/{action}", json=json, headers=who.headers)
    assert r.status_code == expect, r.text
    return r.json()


async def vps_events(deploy_node, vps_id: str) -> list[tuple[str, dict]]:
    """deploy.instance.* events about this VPS in deploy's outbox, oldest first."""

    async def read(session):
        rows = await session.execute(
            text(
                "SELECT routing_key, body FROM deploy.outbox "
                "WHERE starts_with(routing_key, 'deploy.instance.') ORDER BY created_at, id"
            )
        )
        return [(key, json.loads(body)[1]["event"]["payload"]) for key, body in rows]

    return [(k, p) for k, p in await deploy_node.ctx.tx(read) if p.get("vps_id") == vps_id]
