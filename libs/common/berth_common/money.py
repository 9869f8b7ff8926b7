"""Money is an integer count of a currency's minor unit; this knows the units (ISO 4217).

The rule for a code not in the table: billing refuses it (an installation cannot be set up
to bill in it, `currency_exponent` raises), while display code shows the usual two decimal
places (`display_exponent`), so a page never breaks on a code it does not know.
"""

# ISO 4217 minor-unit exponents of the currencies an installation is likely to bill in
EXPONENTS: dict[str, int] = {
    "AED": 2, "AUD": 2, "BGN": 2, "BHD": 3, "BRL": 2, "CAD": 2, "CHF": 2, "CLP": 0,
    "CNY": 2, "CZK": 2, "DKK": 2, "EUR": 2, "GBP": 2, "HKD": 2, "HUF": 2, "IDR": 2,
    "ILS": 2, "INR": 2, "ISK": 0, "JOD": 3, "JPY": 0, "KRW": 0, "KWD": 3, "MXN": 2,
    "MYR": 2, "NOK": 2, "NZD": 2, "OMR": 3, "PHP": 2, "PLN": 2, "RON": 2, "RSD": 2,
    "SAR": 2, "SEK": 2, "SGD": 2, "THB": 2, "TND": 3, "TRY": 2, "TWD": 2, "UAH": 2,
    "USD": 2, "VND": 0, "ZAR": 2,
}  # fmt: skip
DISPLAY_FALLBACK_EXPONENT = 2


def currency_exponent(code: str) -> int:
    """The minor-unit exponent of a supported currency; ValueError for any other code."""
    try:
        return EXPONENTS[code.upper()]
    except KeyError:
        raise ValueError(f"unsupported currency {code!r}") from None


def display_exponent(code: str | None) -> int:
    """The exponent to show an amount with: the currency's, else two decimal places."""
    return EXPONENTS.get((code or "").upper(), DISPLAY_FALLBACK_EXPONENT)


def format_minor(amount: int, exponent: int) -> str:
    """'-1,234.56' for -123456 minor units with exponent 2; exact (no floats)."""
    sign = "-" if amount < 0 else ""
    units, minor = divmod(abs(amount), 10**exponent)
    text = f"{units:,}" if exponent == 0 else f"{units:,}.{minor:0{exponent}d}"
    return f"{sign}{text}"


def format_amount(amount: int, currency: str) -> str:
    """'12.34 EUR' for 1234 EUR minor units, for a supported currency (ValueError else)."""
    return f"{format_minor(amount, currency_exponent(currency))} {currency}"
