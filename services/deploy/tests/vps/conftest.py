"""Fixtures of the VPS unit tests: the test double of the machine driver wired into the API
app and a node that runs VPS operations with it."""

import pytest
from fake_machine import FakeMachine
from vps_kit import VpsRunner


@pytest.fixture
def machine(deploy_app) -> FakeMachine:
    fake = FakeMachine()
    deploy_app.state.vps_driver = fake
    return fake


@pytest.fixture
def vps_runner(deploy_settings, deploy_node, machine) -> VpsRunner:
    return VpsRunner(deploy_settings, deploy_node.ctx.tx, machine)
