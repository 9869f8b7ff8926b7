"""App env vars: encrypted at rest (Fernet, key from DEPLOY_ENV_ENCRYPTION_KEY), secret values
write-only through the API, decrypted only to start the app's processes.

An app has at most DEPLOY_ENV_MAX_VARS variables, and their names and values together take at
most DEPLOY_ENV_MAX_BYTES (UTF-8): the whole environment is handed to every process the app
starts, and the kernel caps what one exec may carry.
"""

import uuid
from dataclasses import dataclass

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from loguru import logger
from sqlalchemy.ext.asyncio import AsyncSession

from berth_common.errors import NotFound, Unprocessable
from berth_deploy.apps.dao import AppDAO
from berth_deploy.config import DeploySettings
from berth_deploy.env.dao import EnvVarDAO
from berth_deploy.models import EnvVar
from berth_deploy.validation import env_name_problem


class TooManyEnvVars(Unprocessable):
    code = "env_too_many_vars"


class EnvTooLarge(Unprocessable):
    code = "env_too_large"


class EnvCipher:
    """The first key encrypts; every key decrypts (rotate by prepending a new key)."""

    def __init__(self, keys: str):
        parts = [k.strip() for k in keys.split(",") if k.strip()]
        if not parts:
            raise ValueError("DEPLOY_ENV_ENCRYPTION_KEY is empty")
        try:
            self._fernet = MultiFernet([Fernet(k) for k in parts])
        except (ValueError, TypeError) as exc:
            raise ValueError("DEPLOY_ENV_ENCRYPTION_KEY holds an invalid Fernet key") from exc

    @classmethod
    def from_settings(cls, settings: DeploySettings) -> "EnvCipher":
        return cls(settings.env_encryption_key.get_secret_value())

    def encrypt(self, value: str) -> bytes:
        return self._fernet.encrypt(value.encode())

    def decrypt(self, token: bytes) -> str:
        try:
            return self._fernet.decrypt(bytes(token)).decode()
        except InvalidToken as exc:
            raise RuntimeError("env var not decryptable with the configured keys") from exc


@dataclass(frozen=True)
class PlainEnv:
    values: dict[str, str]
    secrets: list[str]


async def list_vars(session: AsyncSession, app_id: uuid.UUID) -> list[EnvVar]:
    return await EnvVarDAO(session).of_app(app_id)


def shown_value(cipher: EnvCipher, var: EnvVar) -> str | None:
    return None if var.is_secret else cipher.decrypt(var.value_encrypted)


def env_size(values: dict[str, str]) -> int:
    """Bytes of the names and values (UTF-8), the measure of DEPLOY_ENV_MAX_BYTES."""
    return sum(len(name.encode()) + len(value.encode()) for name, value in values.items())


def check_env_limits(settings: DeploySettings, values: dict[str, str]) -> None:
    if len(values) > settings.env_max_vars:
        raise TooManyEnvVars(
            f"An app has at most {settings.env_max_vars} env vars",
            details={"limit": settings.env_max_vars, "count": len(values)},
        )
    size = env_size(values)
    if size > settings.env_max_bytes:
        raise EnvTooLarge(
            f"An app's env vars (names and values) take at most {settings.env_max_bytes} bytes; "
            f"these would take {size}",
            details={"limit_bytes": settings.env_max_bytes, "size_bytes": size},
        )


async def set_vars(
    session: AsyncSession,
    cipher: EnvCipher,
    settings: DeploySettings,
    app_id: uuid.UUID,
    items: list[tuple[str, str, bool]],
) -> None:
    """Add or replace variables; the app's whole env must stay within the limits."""
    await AppDAO(session).lock(app_id)  # concurrent changes of one app's env are checked in turn
    dao = EnvVarDAO(session)
    values = {v.name: cipher.decrypt(v.value_encrypted) for v in await dao.of_app(app_id)}
    values.update({name: value for name, value, _ in items})
    check_env_limits(settings, values)
    for name, value, secret in items:
        await dao.upsert(app_id, name, cipher.encrypt(value), secret)
    await session.flush()


async def delete_var(session: AsyncSession, app_id: uuid.UUID, name: str) -> None:
    if not await EnvVarDAO(session).remove(app_id, name):
        raise NotFound("No such env var")


async def plain_env(session: AsyncSession, cipher: EnvCipher, app_id: uuid.UUID) -> PlainEnv:
    """What the app's processes get. A name refused today but stored before the rule existed
    is left out (and logged), never passed on."""
    values, secrets = {}, []
    for var in await EnvVarDAO(session).of_app(app_id):
        if env_name_problem(var.name):
            logger.bind(app_id=str(app_id)).warning("env var {} withheld: name refused", var.name)
            continue
        value = cipher.decrypt(var.value_encrypted)
        values[var.name] = value
        if var.is_secret:
            secrets.append(value)
    return PlainEnv(values, secrets)


async def secret_values(session: AsyncSession, cipher: EnvCipher, app_id: uuid.UUID) -> list[str]:
    return [
        cipher.decrypt(v.value_encrypted)
        for v in await EnvVarDAO(session).of_app(app_id)
        if v.is_secret
    ]
