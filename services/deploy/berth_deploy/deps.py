"""Named dependencies of the deploy API."""

import uuid
from typing import Annotated

from fastapi import Depends, Request

from berth_common.security import Principal
from berth_deploy.config import DeploySettings
from berth_deploy.env.service import EnvCipher
from berth_deploy.logs.store import LogStore
from berth_deploy.plans import PlanCatalog


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
