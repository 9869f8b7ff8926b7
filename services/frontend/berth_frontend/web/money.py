"""Money as billing keeps it: an integer count of the currency's minor unit (ISO 4217).

The exponents are billing's (written twice on purpose: the services share no code)."""

from decimal import Decimal, InvalidOperation

_EXPONENTS: dict[str, int] = {
    "BHD": 3, "CLP": 0, "ISK": 0, "JOD": 3, "JPY": 0, "KRW": 0, "KWD": 3, "OMR": 3,
    "TND": 3, "VND": 0,
}  # fmt: skip
MAX_MAJOR = Decimal(1_000_000)  # a top-up above a million is a typo, not a payment


def exponent(currency: str | None) -> int:
    return _EXPONENTS.get((currency or "").upper(), 2)


def format_money(amount: object, currency: str | None = None) -> str:
    """1234 EUR minor units -> '12.34 EUR', exact (no floats)."""
    try:
        minor = int(amount)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return "—"
    exp = exponent(currency)
    sign = "-" if minor < 0 else ""
    units, rest = divmod(abs(minor), 10**exp)
    text = f"{units:,}" if exp == 0 else f"{units:,}.{rest:0{exp}d}"
    return f"{sign}{text} {currency}" if currency else f"{sign}{text}"


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
    exp = exponent(currency)
    minor = value.scaleb(exp)
    if minor != minor.to_integral_value():
        raise ValueError(f"{currency} has {exp} decimal places at most.")
    return int(minor)
