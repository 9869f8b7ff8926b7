"""The sandbox provider's checkout page, rendered from templates/sandbox_checkout.html."""

from functools import lru_cache

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from berth_billing.enums import CheckoutDecision
from berth_billing.models import Payment
from berth_billing.money import format_amount
from berth_billing.payments import service

TEMPLATE = "sandbox_checkout.html"


@lru_cache(maxsize=1)
def _environment() -> Environment:
    return Environment(
        loader=PackageLoader("berth_billing", "templates"),
        autoescape=select_autoescape(["html"], default=True),
        undefined=StrictUndefined,
    )


def render(payment: Payment, action: str, decided: CheckoutDecision | None = None) -> str:
    """The page for `payment`: the Pay/Decline form while open, else where it stands;
    `decided` is the answer to a decision just taken."""
    return (
        _environment()
        .get_template(TEMPLATE)
        .render(
            amount=format_amount(payment.amount, payment.currency),
            status=payment.status,
            is_open=service.checkout_is_open(payment),
            action=action,
            decided=decided,
        )
    )
