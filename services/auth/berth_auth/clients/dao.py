"""Queries on OAuth clients (the audit notes of client administration are in berth_auth.dao)."""

from berth_auth.models import OAuthClient
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
