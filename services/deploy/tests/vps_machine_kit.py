"""Helpers of the machine-driver tests: a test SSH key, ssh into a machine, its console,
and the base image cached under var/ (built on first use: cold, several minutes)."""

import asyncio
import os
import subprocess
import time
import uuid
from pathlib import Path

from berth_deploy.vps.machine import MachineSpec
from berth_testing.processes import free_port

REPO = Path(__file__).resolve().parents[3]
#: the base image survives test runs (and `make test` on a fresh clone builds it once)
IMAGES_DIR = Path(os.environ.get("BERTH_TEST_VPS_IMAGES", REPO / "var" / "vps-images"))
UID = 240_000 + os.getpid() % 1000  # the container fallback maps 50k uids per 65536


def make_key(directory: Path) -> tuple[Path, str]:
    key = directory / "id_ed25519"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "berth-test", "-f", str(key)],
        check=True,
    )
    return key, key.with_suffix(".pub").read_text().strip()


def new_spec(public_key: str, **fields) -> MachineSpec:
    values = {
        "vps_id": uuid.uuid4(),
        "hostname": f"vps-{uuid.uuid4().hex[:8]}",
        "vcpus": 1,
        "memory_mb": 512,
        "disk_gb": 3,
        "ssh_public_keys": (public_key,),
        "run_uid": UID,
        # a port nothing listens on now (24000-24999 is the e2e node B's app port pool)
        "ssh_port": free_port(),
        **fields,
    }
    return MachineSpec(**values)


def ssh_argv(key: Path, port: int, command: str) -> list[str]:
    return [
        "ssh", "-i", str(key), "-p", str(port),
        "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
        "-o", "ConnectTimeout=5", "-o", "LogLevel=ERROR", "-o", "IdentitiesOnly=yes",
        "root@127.0.0.1", command,
    ]  # fmt: skip


async def ssh(key: Path, port: int, command: str, timeout: float = 60) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        *ssh_argv(key, port, command),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), timeout)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        return 124, "timeout"
    return proc.returncode or 0, out.decode(errors="replace")


async def ssh_ok(key: Path, port: int, command: str) -> str:
    code, out = await ssh(key, port, command)
    assert code == 0, f"{command!r} -> {code}: {out}"
    return out.strip()


async def wait_ssh(key: Path, port: int, seconds: float = 180) -> float:
    """Seconds until `ssh true` succeeds with the key."""
    started = time.monotonic()
    out = ""
    while time.monotonic() - started < seconds:
        code, out = await ssh(key, port, "true", timeout=15)
        if code == 0:
            return time.monotonic() - started
        await asyncio.sleep(0.5)
    raise AssertionError(f"no SSH on {port} within {seconds}s: {out}")


#: a boot's identity: the kernel's boot id (a VM) and pid 1's start (a container shares the
#: host's kernel and its boot id)
BOOT = "cat /proc/sys/kernel/random/boot_id; cut -d' ' -f22 /proc/1/stat"


async def boot_id(key: Path, port: int) -> str:
    return await ssh_ok(key, port, BOOT)


async def wait_new_boot(key: Path, port: int, old: str, seconds: float = 180) -> str:
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        code, out = await ssh(key, port, BOOT, timeout=15)
        if code == 0 and out.strip() != old:
            return out.strip()
        await asyncio.sleep(0.5)
    raise AssertionError("the machine did not come back with a new boot")


def _read_or_empty(path: Path) -> bytes:
    return path.read_bytes() if path.exists() else b""


async def logged(log: Path, expect: bytes, seconds: float = 10) -> bytes:
    """The console log once `expect` shows in it: the log is written beside the console
    socket, not before it, so what a client just read can reach the file a moment later."""
    deadline = time.monotonic() + seconds
    while True:
        text = await asyncio.to_thread(_read_or_empty, log)
        if expect in text or time.monotonic() > deadline:
            return text
        await asyncio.sleep(0.1)


async def console_roundtrip(
    socket_path: Path, command: bytes, expect: bytes, seconds: float = 30
) -> bytes:
    """Type `command` on the serial console and read until `expect` shows."""
    reader, writer = await asyncio.open_unix_connection(str(socket_path))
    try:
        writer.write(b"\r")
        await writer.drain()
        await asyncio.sleep(0.3)
        writer.write(command + b"\r")
        await writer.drain()
        seen = b""
        async with asyncio.timeout(seconds):
            while expect not in seen:
                chunk = await reader.read(4096)
                if not chunk:
                    break
                seen += chunk
        return seen
    finally:
        writer.close()
