"""What staff see of a ticket's reply addresses."""

from pydantic import BaseModel


class ReplyAddressesRevoked(BaseModel):
    # the version the next notice's address carries; every older address is refused
    reply_token_version: int
