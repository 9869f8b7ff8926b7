"""The payment-provider interface and the built-in sandbox provider.

A provider creates a checkout for a pending payment, proves its webhooks (signature with a
timestamp: `Berth-Signature: t=<unix>,v1=<hex HMAC-SHA256 of "<t>.<body>">`), and refunds.
The sandbox is a whole provider on this machine: its checkout page is served by billing and
its "bank" answers at once; its webhooks are signed and delivered by a Celery task, like a
real provider's, to the public webhook URL.
"""

import base64
import hashlib
import hmac
import json
import secrets
import time
import uuid
from dataclasses import dataclass
from typing import Any, Protocol

from berth_billing.config import BillingSettings
from berth_common import signatures
from berth_common.errors import BerthError
from berth_common.signatures import SIGNATURE_HEADER

SUCCEEDED = "payment.succeeded"
FAILED = "payment.failed"


class InvalidSignature(BerthError):
    status_code = 400
    code = "invalid_signature"


class InvalidCheckoutToken(BerthError):
    status_code = 404
    code = "not_found"


@dataclass(frozen=True)
class ProviderEvent:
    event_id: str
    type: str
    provider_payment_id: str
    amount: int
    currency: str
    payload: dict[str, Any]


class PaymentProvider(Protocol):
    name: str

    def new_payment_id(self) -> str: ...

    def checkout_url(self, payment_id: uuid.UUID) -> str: ...

    def parse_webhook(self, headers: dict[str, str], body: bytes) -> ProviderEvent: ...

    async def refund(self, provider_payment_id: str, amount: int) -> str: ...


class SandboxProvider:
    name = "sandbox"

    def __init__(self, settings: BillingSettings, *, now: Any = time.time):
        self.settings = settings
        self._secret = settings.webhook_secret.get_secret_value().encode()
        # the checkout tokens are signed with a key of their own, derived from the secret
        self._checkout_key = hmac.new(self._secret, b"berth-sandbox-checkout", "sha256").digest()
        self._now = now

    def new_payment_id(self) -> str:
        return f"sbx_pay_{secrets.token_hex(12)}"

    # checkout tokens: "<payment id>.<expiry>.<mac>", single use by the payment's decision
    def checkout_token(self, payment_id: uuid.UUID) -> str:
        expires = int(self._now()) + self.settings.checkout_token_ttl_seconds
        message = f"{payment_id}.{expires}"
        mac = hmac.new(self._checkout_key, message.encode(), hashlib.sha256).digest()
        return f"{message}.{base64.urlsafe_b64encode(mac).decode().rstrip('=')}"

    def payment_of_token(self, token: str) -> uuid.UUID:
        try:
            payment_id, expires, mac = token.split(".")
            expected = hmac.new(
                self._checkout_key, f"{payment_id}.{expires}".encode(), hashlib.sha256
            ).digest()
            given = base64.urlsafe_b64decode(mac + "=" * (-len(mac) % 4))
            if not hmac.compare_digest(expected, given) or int(expires) < self._now():
                raise ValueError
            return uuid.UUID(payment_id)
        except (ValueError, TypeError):
            raise InvalidCheckoutToken("This checkout link is invalid or has expired") from None

    def checkout_url(self, payment_id: uuid.UUID) -> str:
        token = self.checkout_token(payment_id)
        return f"{self.settings.issuer}/api/billing/v1/sandbox/checkout/{token}"

    def sign(self, body: bytes, timestamp: int | None = None) -> str:
        t = int(self._now()) if timestamp is None else timestamp
        return signatures.sign(self._secret, body, t)

    def event_body(
        self, *, event_id: str, type_: str, provider_payment_id: str, amount: int, currency: str
    ) -> bytes:
        event = {
            "id": event_id,
            "type": type_,
            "created": int(self._now()),
            "data": {"payment_id": provider_payment_id, "amount": amount, "currency": currency},
        }
        return json.dumps(event, separators=(",", ":")).encode()

    def parse_webhook(self, headers: dict[str, str], body: bytes) -> ProviderEvent:
        try:
            signatures.verify(
                self._secret,
                headers.get(SIGNATURE_HEADER.lower()) or "",
                body,
                tolerance_seconds=self.settings.webhook_tolerance_seconds,
                now=self._now(),
            )
        except signatures.SignatureMismatch as exc:
            raise InvalidSignature(str(exc)) from None
        try:
            event = json.loads(body)
            data = event["data"]
            parsed = ProviderEvent(
                event_id=str(event["id"])[:128],
                type=str(event["type"])[:64],
                provider_payment_id=str(data["payment_id"])[:128],
                amount=data["amount"],
                currency=str(data["currency"]),
                payload=event,
            )
        except (ValueError, KeyError, TypeError):
            raise InvalidSignature("A signed body that is not a provider event") from None
        if type(parsed.amount) is not int:
            raise InvalidSignature("A signed body with a non-integer amount")
        return parsed

    async def refund(self, provider_payment_id: str, amount: int) -> str:
        # the sandbox bank refunds at once; a real provider would be called here
        return f"sbx_re_{secrets.token_hex(12)}"


def get_provider(settings: BillingSettings, name: str = "sandbox") -> SandboxProvider:
    if name != "sandbox":
        raise ValueError(f"unknown payment provider {name!r}")
    return SandboxProvider(settings)
