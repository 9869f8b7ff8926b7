"""Named dependencies of the deploy API."""

import uuid
from typing import Annotated, Any

from fastapi import Depends, Request
from loguru import logger

from berth_common.security import Principal
from berth_deploy.config import DeploySettings
from berth_deploy.env.service import EnvCipher
from berth_deploy.logs.store import LogStore
from berth_deploy.plans import PlanCatalog
from berth_deploy.vps.machine import machine_driver


def actor_id(principal: Principal) -> uuid.UUID | None:
    try:
        return uuid.UUID(principal.subject)
    except ValueError:
        return None


def _settings(request: Request) -> DeploySettings:
    return request.app.state.settings


def _cipher(request: Request) -> EnvCipher:
    return request.app.state.env_cipher


def _logs(request: Request) -> LogStore:
    return request.app.state.log_store


def _plans(request: Request) -> PlanCatalog:
    return request.app.state.plan_catalog


SettingsDep = Annotated[DeploySettings, Depends(_settings)]
CipherDep = Annotated[EnvCipher, Depends(_cipher)]
LogStoreDep = Annotated[LogStore, Depends(_logs)]
PlansDep = Annotated[PlanCatalog, Depends(_plans)]


def _vps_driver(request: Request):
    """This node's machine driver (made once per web process), or None when it has none."""
    state = request.app.state
    if not hasattr(state, "vps_driver"):
        try:
            state.vps_driver = machine_driver(state.settings)
        except Exception as exc:  # no hypervisor and no fallback here: ordering says so
            logger.warning("no VPS machine driver in this process: {}", exc)
            state.vps_driver = None
    return state.vps_driver


VpsDriverDep = Annotated[Any, Depends(_vps_driver)]
