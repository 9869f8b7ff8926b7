"""An app's env vars. Secret values are write-only: they are never shown again (and are
scrubbed from the logs served). Changes apply at the next deploy, start or restart."""

import uuid
from typing import Annotated

from fastapi import Path, status

from berth_common.db import SessionDep
from berth_common.errors import (
    Conflict,
    NotFound,
    Unprocessable,
    error_responses,
)
from berth_common.routing import user_router
from berth_common.security import CurrentUserId
from berth_deploy.apps.service import get_app
from berth_deploy.deps import CipherDep, SettingsDep
from berth_deploy.enums import AppStatus
from berth_deploy.env import service
from berth_deploy.env.schemas import EnvVar, EnvVarsUpdate, EnvVarUpdate
from berth_deploy.validation import env_name_problem

router = user_router(prefix="/api/deploy/v1/apps/{app_id}/env", tags=["env"], errors=(NotFound,))
EnvNamePath = Annotated[
    str, Path(min_length=1, max_length=128, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
]


async def _listing(session, cipher, app_id) -> list[EnvVar]:
    return [
        EnvVar(
            name=v.name,
            value=service.shown_value(cipher, v),
            secret=v.is_secret,
            updated_at=v.updated_at,
        )
        for v in await service.list_vars(session, app_id)
    ]


async def _editable(session, app_id, owner):
    app = await get_app(session, app_id, owner)
    if app.status == AppStatus.DELETING:
        raise Conflict("The app is being deleted", code="illegal_transition")
    return app


@router.get("", response_model=list[EnvVar])
async def list_env(
    app_id: uuid.UUID, owner: CurrentUserId, session: SessionDep, cipher: CipherDep
) -> list[EnvVar]:
    await get_app(session, app_id, owner)
    return await _listing(session, cipher, app_id)


@router.patch("", response_model=list[EnvVar], responses=error_responses(Unprocessable, Conflict))
async def set_many(
    app_id: uuid.UUID,
    body: EnvVarsUpdate,
    owner: CurrentUserId,
    session: SessionDep,
    cipher: CipherDep,
    settings: SettingsDep,
) -> list[EnvVar]:
    await _editable(session, app_id, owner)
    names = [v.name for v in body.vars]
    if len(names) != len(set(names)):
        raise Unprocessable("An env var is given twice")
    await service.set_vars(
        session, cipher, settings, app_id, [(v.name, v.value, v.secret) for v in body.vars]
    )
    return await _listing(session, cipher, app_id)


@router.put("/{name}", response_model=EnvVar, responses=error_responses(Unprocessable, Conflict))
async def set_one(
    app_id: uuid.UUID,
    name: EnvNamePath,
    body: EnvVarUpdate,
    owner: CurrentUserId,
    session: SessionDep,
    cipher: CipherDep,
    settings: SettingsDep,
) -> EnvVar:
    if problem := env_name_problem(name):
        raise Unprocessable(problem, details={"field": "name", "name": name})
    await _editable(session, app_id, owner)
    await service.set_vars(session, cipher, settings, app_id, [(name, body.value, body.secret)])
    return next(v for v in await _listing(session, cipher, app_id) if v.name == name)


@router.delete("/{name}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_one(
    app_id: uuid.UUID, name: EnvNamePath, owner: CurrentUserId, session: SessionDep
) -> None:
    await _editable(session, app_id, owner)
    await service.delete_var(session, app_id, name)
