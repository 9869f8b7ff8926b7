"""Staff: revoke a ticket's reply addresses (role support or admin, here and at the gateway)."""

import uuid

from berth_common.db import SessionDep
from berth_common.errors import NotFound
from berth_common.routing import role_router
from berth_common.security import SupportUser, user_id_of
from berth_tickets.notify import addresses, schemas

router = role_router(
    "support", "admin", prefix="/api/tickets/v1/staff", tags=["staff"], errors=(NotFound,)
)


@router.post(
    "/tickets/{ticket_id}/reply-addresses/revoke", response_model=schemas.ReplyAddressesRevoked
)
async def revoke_reply_addresses(
    ticket_id: uuid.UUID, staff: SupportUser, session: SessionDep
) -> schemas.ReplyAddressesRevoked:
    version = await addresses.revoke_reply_addresses(session, ticket_id, user_id_of(staff))
    return schemas.ReplyAddressesRevoked(reply_token_version=version)
