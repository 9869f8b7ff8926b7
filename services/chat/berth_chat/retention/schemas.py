from pydantic import BaseModel


class Retention(BaseModel):
    """How long the signed-in customer's messages are kept, by their service tier."""

    tier: str
    days: int
