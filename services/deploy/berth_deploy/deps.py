"""Named dependencies of the deploy API."""

import uuid
from typing import Annotated

from fastapi import Depends, Request

from berth_common.errors import Forbidden
from berth_common.security import CurrentUser, Principal
from berth_deploy.config import DeploySettings
from berth_deploy.env.service import EnvCipher
from berth_deploy.logs.store import LogStore
from berth_deploy.plans import PlanCatalog


def _owner(principal: CurrentUser) -> uuid.UUID:
    try:
        return uuid.UUID(principal.subject)
    except ValueError:
        raise Forbidden("This token's subject is not a user id") from None


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


OwnerId = Annotated[uuid.UUID, Depends(_owner)]
SettingsDep = Annotated[DeploySettings, Depends(_settings)]
CipherDep = Annotated[EnvCipher, Depends(_cipher)]
LogStoreDep = Annotated[LogStore, Depends(_logs)]
PlansDep = Annotated[PlanCatalog, Depends(_plans)]
