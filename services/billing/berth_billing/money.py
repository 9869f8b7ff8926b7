"""Money is an integer count of a currency's minor unit; this knows the units (ISO 4217)."""

# ISO 4217 minor-unit exponents of the currencies an installation is likely to bill in
_EXPONENTS: dict[str, int] = {
    "AED": 2, "AUD": 2, "BGN": 2, "BHD": 3, "BRL": 2, "CAD": 2, "CHF": 2, "CLP": 0,
    "CNY": 2, "CZK": 2, "DKK": 2, "EUR": 2, "GBP": 2, "HKD": 2, "HUF": 2, "IDR": 2,
    "ILS": 2, "INR": 2, "ISK": 0, "JOD": 3, "JPY": 0, "KRW": 0, "KWD": 3, "MXN": 2,
    "MYR": 2, "NOK": 2, "NZD": 2, "OMR": 3, "PHP": 2, "PLN": 2, "RON": 2, "RSD": 2,
    "SAR": 2, "SEK": 2, "SGD": 2, "THB": 2, "TND": 3, "TRY": 2, "TWD": 2, "UAH": 2,
    "USD": 2, "VND": 0, "ZAR": 2,
}  # fmt: skip


def currency_exponent(code: str) -> int:
    try:
        return _EXPONENTS[code.upper()]
    except KeyError:
        raise ValueError(f"unsupported currency {code!r}") from None


def format_amount(amount: int, currency: str) -> str:
    """'12.34 EUR' for 1234 EUR minor units; exact (no floats)."""
    exp = currency_exponent(currency)
    sign = "-" if amount < 0 else ""
    units, minor = divmod(abs(amount), 10**exp)
    text = f"{units:,}" if exp == 0 else f"{units:,}.{minor:0{exp}d}"
    return f"{sign}{text} {currency}"


def prorate(hourly_price: int, minutes: int) -> int:
    """The charge for `minutes` of an hour at `hourly_price`, rounded half up to the minor
    unit (the metering SQL applies the same rule: (price * minutes + 30) / 60)."""
    return (hourly_price * minutes + 30) // 60
