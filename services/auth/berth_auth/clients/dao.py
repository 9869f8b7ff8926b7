"""Queries on OAuth clients and the audit notes of client administration."""

from berth_auth.models import AuditNote, OAuthClient
from berth_common.dao import BaseDAO


class OAuthClientDAO(BaseDAO[OAuthClient]):
    model = OAuthClient
    sortable = {
        "created_at": OAuthClient.created_at,
        "name": OAuthClient.name,
        "client_id": OAuthClient.client_id,
        "last_used_at": OAuthClient.last_used_at,
    }
    default_sort = (OAuthClient.created_at.desc(), OAuthClient.id)
    not_found_message = "Client not found"

    async def get_by_client_id(self, client_id: str) -> OAuthClient | None:
        return await self.get_by(OAuthClient.client_id == client_id)


class AuditNoteDAO(BaseDAO[AuditNote]):
    model = AuditNote

    async def note(self, *, actor_id: str, action: str, detail: str) -> AuditNote:
        return await self.create(actor_id=actor_id[:64], action=action, detail=detail)
