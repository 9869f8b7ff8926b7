"""Currency units, once: billing refuses a code it does not know, display falls back."""

import pytest

from berth_common.money import (
    EXPONENTS,
    currency_exponent,
    display_exponent,
    format_amount,
    format_minor,
)


@pytest.mark.parametrize(("code", "exponent"), [("EUR", 2), ("jpy", 0), ("KWD", 3), ("USD", 2)])
def test_known_currencies_have_their_iso_exponent(code: str, exponent: int):
    assert currency_exponent(code) == exponent
    assert display_exponent(code) == exponent


@pytest.mark.parametrize("code", ["XXX", "EURO", "", "eu"])
def test_billing_refuses_an_unknown_code_display_shows_two_places(code: str):
    with pytest.raises(ValueError, match="unsupported currency"):
        currency_exponent(code)
    assert display_exponent(code) == 2


def test_display_without_a_currency_shows_two_places():
    assert display_exponent(None) == 2


def test_every_exponent_is_a_minor_unit_count():
    assert set(EXPONENTS.values()) <= {0, 2, 3}
    assert all(len(code) == 3 and code.isupper() for code in EXPONENTS)


@pytest.mark.parametrize(
    ("amount", "currency", "text"),
    [
        (1234, "EUR", "12.34 EUR"),
        (-5, "EUR", "-0.05 EUR"),
        (1_234_567, "JPY", "1,234,567 JPY"),
        (1001, "KWD", "1.001 KWD"),
        (0, "USD", "0.00 USD"),
    ],
)
def test_format_amount_is_exact(amount: int, currency: str, text: str):
    assert format_amount(amount, currency) == text


def test_format_amount_refuses_an_unknown_code_format_minor_takes_any_exponent():
    with pytest.raises(ValueError):
        format_amount(100, "XXX")
    assert format_minor(-123456, 2) == "-1,234.56"
    assert format_minor(7, 0) == "7"
