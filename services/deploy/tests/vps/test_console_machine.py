"""The console relay on a real machine (the node's driver on the cached Debian image): the
WebSocket reaches the guest's serial console (root autologin), a command typed comes back
with its output, and a new console replays the screen from the machine's console log."""

import contextlib
import time

import pytest
from cryptography.fernet import Fernet
from test_console_relay import client, connect, console_settings, make_vps, mint  # noqa: F401
from vps_machine_kit import IMAGES_DIR, console_roundtrip, make_key, new_spec

pytestmark = pytest.mark.timeout(900)


@pytest.fixture(scope="module")
def kvm_driver(tmp_path_factory):
    """The node's driver (KVM where it boots guests, else the system-container fallback) on
    the base image cached under var/vps-images (built there once)."""
    import os

    from berth_deploy.config import DeploySettings
    from berth_deploy.vps.machine import MachineSettings, machine_driver

    if os.geteuid() != 0:
        pytest.skip("the VPS driver runs as root (debootstrap, the sandbox launcher)")
    settings = DeploySettings(
        DEPLOY_DATA_DIR=str(tmp_path_factory.mktemp("vps-console")),
        DEPLOY_ENV_ENCRYPTION_KEY=Fernet.generate_key().decode(),
        DEPLOY_CGROUP_PARENT="berth-test-vps",
    )
    return machine_driver(settings, MachineSettings(images_dir=IMAGES_DIR))


def read_until(ws, needle: bytes, limit: int = 5000) -> bytes:
    seen = b""
    for _ in range(limit):
        message = ws.receive()
        if message["type"] == "websocket.close":
            raise AssertionError(f"closed {message.get('code')}: {seen[-300:]!r}")
        if message.get("bytes"):
            seen += message["bytes"]
            if needle in seen:
                return seen
    raise AssertionError(f"{needle!r} never came: {seen[-300:]!r}")


def test_the_console_of_a_real_machine(client, kvm_driver, person, tmp_path):  # noqa: F811
    driver = kvm_driver
    owner = person()
    vps = make_vps(client, owner.id)
    _, public = make_key(tmp_path)
    spec = new_spec(public, vps_id=vps)
    run = client.portal.call
    run(driver.create, spec)
    run(driver.start, spec)
    try:
        socket_path = driver.console_socket(vps)
        deadline = time.monotonic() + 600  # a loaded node boots slowly
        while True:  # until the guest's getty has logged root in (its socket may reset meanwhile)
            with contextlib.suppress(TimeoutError, OSError):
                seen = run(console_roundtrip, socket_path, b"echo BOOTED-$((1+1))", b"BOOTED-2", 10)
                if b"BOOTED-2" in seen:
                    break
            assert time.monotonic() < deadline, "the console never answered"
            time.sleep(2)
        client.app.state.console_locator = lambda i: (
            driver.console_socket(i),
            driver.console_log(i),
        )
        with connect(client, vps, mint(client, vps, owner)["token"], owner) as ws:
            assert ws.receive_json()["type"] == "hello"
            ws.send_bytes(b"echo relayed-$((6*7))-ok\r")
            assert b"relayed-42-ok" in read_until(ws, b"relayed-42-ok")
        with connect(client, vps, mint(client, vps, owner)["token"], owner) as ws:
            assert ws.receive_json()["type"] == "hello"
            assert b"relayed-42-ok" in ws.receive_bytes()  # the screen, replayed
    finally:
        run(driver.destroy, vps)
