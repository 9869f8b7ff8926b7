"""Money as billing keeps it (an integer count of the currency's minor unit), shown and read
in forms. The units are berth_common.money's; a page shows an unknown code with two decimals.
"""

from decimal import Decimal, InvalidOperation

from berth_common.money import display_exponent, format_minor

MAX_MAJOR = Decimal(1_000_000)  # a top-up above a million is a typo, not a payment


def format_money(amount: object, currency: str | None = None) -> str:
    """1234 EUR minor units -> '12.34 EUR', exact (no floats)."""
    try:
        minor = int(amount)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return "—"
    text = format_minor(minor, display_exponent(currency))
    return f"{text} {currency}" if currency else text


def to_minor(text: str, currency: str) -> int:
    """'12.5' EUR -> 1250; ValueError with a reason for anything that is not an amount."""
    cleaned = text.strip().replace(",", ".")
    try:
        value = Decimal(cleaned)
    except InvalidOperation:
        raise ValueError("Enter an amount such as 10 or 12.50.") from None
    if not value.is_finite() or value <= 0:
        raise ValueError("Enter an amount above zero.")
    if value > MAX_MAJOR:
        raise ValueError("That is more than a single top-up can be.")
    exp = display_exponent(currency)
    minor = value.scaleb(exp)
    if minor != minor.to_integral_value():
        raise ValueError(f"{currency} has {exp} decimal places at most.")
    return int(minor)
