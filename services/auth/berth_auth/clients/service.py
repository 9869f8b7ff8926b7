"""OAuth clients: the first-party panel client, other teams' machine clients, and how a client
proves who it is at the token, revocation and introspection endpoints (RFC 6749 §2.3)."""

import asyncio
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from authlib.oauth2.rfc6749.errors import InvalidClientError, InvalidRequestError
from loguru import logger
from sqlalchemy.ext.asyncio import AsyncSession

from berth_auth.clients.dao import OAuthClientDAO
from berth_auth.config import AuthSettings
from berth_auth.dao import AuditNoteDAO
from berth_auth.enums import ClientKind
from berth_auth.models import OAuthClient
from berth_auth.passwords import dummy_verify, generate_token, hash_password, verify_password
from berth_auth.revocations import service as revocations
from berth_auth.scopes import SCOPE_CATALOG
from berth_common.errors import Conflict, NotFound
from berth_common.pagination import PageParams

PANEL_GRANT_TYPES = ["password", "refresh_token"]
MACHINE_GRANT_TYPES = ["client_credentials"]


@dataclass(frozen=True)
class IssuedClient:
    """A client together with its plain secret, which is shown exactly once."""

    client: OAuthClient
    client_secret: str


@dataclass(frozen=True)
class ClientCredentials:
    """What the request presented: `method` is client_secret_basic, client_secret_post or none."""

    client_id: str | None
    client_secret: str | None
    method: str


def _new_client_id() -> str:
    return f"mc_{secrets.token_hex(12)}"


def _invalid_client(message: str = "Client authentication failed") -> InvalidClientError:
    # 401 always: RFC 6749 §5.2 requires it when Basic was tried, and it is what clients expect.
    return InvalidClientError(description=message, status_code=401)


async def authenticate_client(session: AsyncSession, creds: ClientCredentials) -> OAuthClient:
    """The active client these credentials prove; raises invalid_client otherwise.

    Public clients (no stored secret, first-party only) identify with client_id alone;
    confidential clients must present their secret, which is checked against its argon2 hash.
    """
    if not creds.client_id:
        raise _invalid_client("Client authentication is required")
    client = await OAuthClientDAO(session).get_by_client_id(creds.client_id)
    if client is None:
        if creds.client_secret:
            await asyncio.to_thread(dummy_verify, creds.client_secret)
        raise _invalid_client()
    if client.client_secret_hash is None:
        if client.kind != ClientKind.FIRST_PARTY or creds.client_secret:
            raise _invalid_client()
    else:
        if not creds.client_secret:
            raise _invalid_client("Client secret is required")
        ok = await asyncio.to_thread(
            verify_password, client.client_secret_hash, creds.client_secret
        )
        if not ok:
            raise _invalid_client()
    if client.revoked_at is not None:
        raise _invalid_client("Client has been revoked")
    return client


def ensure_single_method(
    basic: tuple[str, str] | None, form_id: str | None, form_secret: str | None
) -> ClientCredentials:
    """RFC 6749 §2.3: a client MUST NOT use more than one authentication method per request."""
    if basic is None:
        return ClientCredentials(
            form_id, form_secret, "client_secret_post" if form_secret else "none"
        )
    if form_secret or (form_id and form_id != basic[0]):
        raise InvalidRequestError(description="Use one client authentication method only")
    return ClientCredentials(basic[0], basic[1], "client_secret_basic")


async def create_machine_client(
    session: AsyncSession, *, name: str, scopes: list[str], actor_id: str
) -> IssuedClient:
    secret = generate_token(32)
    client = await OAuthClientDAO(session).create(
        client_id=_new_client_id(),
        client_secret_hash=await asyncio.to_thread(hash_password, secret),
        name=name,
        kind=ClientKind.MACHINE,
        grant_types=list(MACHINE_GRANT_TYPES),
        scopes=sorted(set(scopes)),
        created_by=_as_uuid(actor_id),
    )
    await AuditNoteDAO(session).note(
        actor_id=actor_id,
        action="client.create",
        detail=f"client_id={client.client_id} name={name!r} scopes={' '.join(client.scopes)}",
    )
    logger.info("machine client {} created by {}", client.client_id, actor_id)
    return IssuedClient(client, secret)


async def list_machine_clients(
    session: AsyncSession, params: PageParams, *, revoked: bool | None
) -> tuple[list[OAuthClient], int]:
    where = [OAuthClient.kind == ClientKind.MACHINE]
    if revoked is True:
        where.append(OAuthClient.revoked_at.is_not(None))
    elif revoked is False:
        where.append(OAuthClient.revoked_at.is_(None))
    return await OAuthClientDAO(session).list(params, *where)


async def get_machine_client(session: AsyncSession, ref: str) -> OAuthClient:
    """By row id (uuid) or by client_id; the first-party client is not managed here."""
    dao = OAuthClientDAO(session)
    as_uuid = _as_uuid(ref)
    client = await (dao.get(as_uuid) if as_uuid else dao.get_by_client_id(ref))
    if client is None or client.kind != ClientKind.MACHINE:
        raise NotFound("Client not found")
    return client


async def revoke_machine_client(
    session: AsyncSession, settings: AuthSettings, ref: str, *, actor_id: str
) -> OAuthClient:
    """No new tokens, and the ones issued stop working within seconds everywhere.

    Idempotent: revoking a revoked client changes nothing and writes no second note."""
    client = await get_machine_client(session, ref)
    if client.revoked_at is None:
        client.revoked_at = datetime.now(UTC)
        await session.flush()
        await revocations.client_revoked(session, settings, client.client_id, client.revoked_at)
        await AuditNoteDAO(session).note(
            actor_id=actor_id, action="client.revoke", detail=f"client_id={client.client_id}"
        )
        logger.info("machine client {} revoked by {}", client.client_id, actor_id)
    return client


async def rotate_client_secret(session: AsyncSession, ref: str, *, actor_id: str) -> IssuedClient:
    client = await get_machine_client(session, ref)
    if client.revoked_at is not None:
        raise Conflict("A revoked client cannot get a new secret")
    secret = generate_token(32)
    client.client_secret_hash = await asyncio.to_thread(hash_password, secret)
    await session.flush()
    await AuditNoteDAO(session).note(
        actor_id=actor_id, action="client.rotate_secret", detail=f"client_id={client.client_id}"
    )
    logger.info("machine client {} secret rotated by {}", client.client_id, actor_id)
    return IssuedClient(client, secret)


async def ensure_panel_client(session: AsyncSession, client_id: str) -> tuple[OAuthClient, bool]:
    """The first-party panel client: public (no secret), password + refresh_token grants.

    An existing client keeps its revocation and secret (an operator's decision); only its kind
    and grant types are repaired.
    """
    dao = OAuthClientDAO(session)
    client = await dao.get_by_client_id(client_id)
    if client is None:
        client = await dao.create(
            client_id=client_id,
            client_secret_hash=None,
            name="Berth panel",
            kind=ClientKind.FIRST_PARTY,
            grant_types=list(PANEL_GRANT_TYPES),
            scopes=[],
        )
        await AuditNoteDAO(session).note(
            actor_id="cli", action="client.bootstrap", detail=f"client_id={client_id}"
        )
        return client, True
    changed = False
    panel_grants = sorted(PANEL_GRANT_TYPES)
    if client.kind != ClientKind.FIRST_PARTY or sorted(client.grant_types) != panel_grants:
        client.kind = ClientKind.FIRST_PARTY
        client.grant_types = list(PANEL_GRANT_TYPES)
        changed = True
    if changed:
        await session.flush()
        await AuditNoteDAO(session).note(
            actor_id="cli", action="client.bootstrap_repair", detail=f"client_id={client_id}"
        )
    return client, changed


async def ensure_service_client(
    session: AsyncSession, client_id: str, secret: str, scopes: list[str]
) -> bool:
    """A platform service's own machine client (from AUTH_SERVICE_CLIENTS), kept in step with
    the configured secret and scopes; returns whether anything changed."""
    unknown = sorted(set(scopes) - set(SCOPE_CATALOG))
    if unknown:
        raise ValueError(f"unknown scopes for {client_id}: {unknown}")
    dao = OAuthClientDAO(session)
    client = await dao.get_by_client_id(client_id)
    if client is None:
        await dao.create(
            client_id=client_id,
            client_secret_hash=await asyncio.to_thread(hash_password, secret),
            name=f"platform service {client_id}",
            kind=ClientKind.MACHINE,
            grant_types=list(MACHINE_GRANT_TYPES),
            scopes=sorted(set(scopes)),
        )
        await AuditNoteDAO(session).note(
            actor_id="cli", action="client.service_bootstrap", detail=f"client_id={client_id}"
        )
        return True
    changed = False
    if client.kind != ClientKind.MACHINE or sorted(client.scopes) != sorted(set(scopes)):
        client.kind, client.scopes = ClientKind.MACHINE, sorted(set(scopes))
        client.grant_types = list(MACHINE_GRANT_TYPES)
        changed = True
    if client.client_secret_hash is None or not await asyncio.to_thread(
        verify_password, client.client_secret_hash, secret
    ):
        client.client_secret_hash = await asyncio.to_thread(hash_password, secret)
        changed = True
    if changed:
        await session.flush()
        await AuditNoteDAO(session).note(
            actor_id="cli", action="client.service_repair", detail=f"client_id={client_id}"
        )
    return changed


def _as_uuid(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value)
    except (ValueError, TypeError, AttributeError):
        return None
