"""Helpers of the VPS e2e tests: the person's SSH key, SSH into the guest, the VPS API, the
console over its WebSocket through Traefik."""

import json
import os
import subprocess
import time
from pathlib import Path

import httpx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from deploy_testkit import wait_for
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from berth_testing.oauth import bearer

VPS = "/api/deploy/v1/vps"
DONE = ("succeeded", "failed", "cancelled", "superseded")
# the first order builds the Debian image (debootstrap) before it boots
FIRST_BOOT_SECONDS = 1800
BOOT_SECONDS = 300


def new_key_pair(directory: Path) -> tuple[Path, str]:
    """An SSH key pair: the private key's file and the public key's line."""
    key = ed25519.Ed25519PrivateKey.generate()
    path = directory / "id_ed25519"
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.OpenSSH,
            serialization.NoEncryption(),
        )
    )
    path.chmod(0o600)
    public = key.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    )
    return path, f"{public.decode()} e2e@berth"


def ssh(key: Path, port: int, command: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["ssh", "-i", str(key), "-p", str(port), "-o", "BatchMode=yes",
         "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
         "-o", "ConnectTimeout=10", "-o", "LogLevel=ERROR", "root@127.0.0.1", command],
        capture_output=True, text=True, timeout=timeout, env={"PATH": os.environ["PATH"]},
    )  # fmt: skip


def order(edge: httpx.Client, who, name: str, public_key: str, plan: str = "vps-1") -> dict:
    """Order a VPS: the 202's body ({vps, operation})."""
    body = {"name": name, "plan": plan, "ssh_public_key": public_key}
    r = edge.post(VPS, json=body, headers=who.headers)
    assert r.status_code == 202, r.text
    return r.json()


def vps_of(edge: httpx.Client, who, vps_id: str) -> dict:
    r = edge.get(f"{VPS}/{vps_id}", headers=who.headers)
    assert r.status_code == 200, r.text
    return r.json()


def settled(edge, who, vps_id: str, op: dict, timeout: float = BOOT_SECONDS) -> dict:
    """Wait for the operation to end; it must have succeeded. The VPS after it."""

    def done():
        r = edge.get(f"{VPS}/{vps_id}/operations/{op['id']}", headers=who.headers)
        assert r.status_code == 200, r.text
        return r.json()["status"] in DONE and r.json()

    ended = wait_for(done, timeout, f"the VPS's {op['kind']}")
    assert ended["status"] == "succeeded", (ended["reason"], vps_of(edge, who, vps_id))
    return vps_of(edge, who, vps_id)


def act(edge, who, vps_id: str, action: str, **body) -> dict:
    r = edge.post(f"{VPS}/{vps_id}/actions/{action}", json=body or None, headers=who.headers)
    assert r.status_code == 202, r.text
    return r.json()


def deleted(edge: httpx.Client, who, vps_id: str) -> dict:
    """Delete the VPS and wait until its owner no longer sees it: the delete operation."""
    r = edge.delete(f"{VPS}/{vps_id}", headers=who.headers)
    assert r.status_code == 202, r.text
    wait_for(
        lambda: edge.get(f"{VPS}/{vps_id}", headers=who.headers).status_code == 404,
        BOOT_SECONDS,
        "the VPS to be deleted",
    )
    return r.json()


def ws_url(platform, vps_id, token: str) -> str:
    base = platform.public_url.replace("http://", "ws://", 1).rstrip("/")
    return f"{base}{VPS}/{vps_id}/console?token={token}"


def open_console(platform, vps_id, token: str, access: str, origin: str | None = None):
    return connect(
        ws_url(platform, vps_id, token),
        additional_headers={
            "Authorization": f"Bearer {access}",
            "Origin": origin or platform.public_url.rstrip("/"),
        },
        proxy=None,
        open_timeout=15,
        max_size=2**22,
    )


def closed_with(ws, timeout: float = 30.0) -> int:
    """Read on until the server closes the socket; its close code."""
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ws.recv(timeout=max(0.1, deadline - time.monotonic()))
    except ConnectionClosed as closed:
        return closed.rcvd.code if closed.rcvd else 1006
    raise AssertionError("the console did not close")


def screen_until(ws, needle: bytes, timeout: float = 60.0, poke: bytes | None = None) -> bytes:
    """Console bytes until `needle` shows (pings answered); `poke` is sent every few seconds
    meanwhile (a serial console prints nothing until asked)."""
    seen, deadline, poked = b"", time.monotonic() + timeout, 0.0
    while time.monotonic() < deadline:
        if poke is not None and time.monotonic() - poked > 3:
            ws.send(poke)
            poked = time.monotonic()
        try:
            frame = ws.recv(timeout=1)
        except TimeoutError:
            continue
        if isinstance(frame, str):
            if json.loads(frame).get("type") == "ping":
                ws.send(json.dumps({"type": "pong"}))
            continue
        seen += frame
        if needle in seen:
            return seen
    raise AssertionError(f"{needle!r} never showed: {seen[-500:]!r}")


def mint(platform, vps_id, access: str) -> httpx.Response:
    with httpx.Client(base_url=platform.public_url, timeout=30) as edge:
        return edge.post(f"{VPS}/{vps_id}/console-tokens", headers=bearer(access))
