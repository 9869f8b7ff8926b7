"""Small pieces with rules of their own: money input, table state, return targets, the
refresh coordinator."""

import asyncio

import pytest

from berth_common.client_ip import forwarded_client
from berth_frontend.web.backends import ApiError
from berth_frontend.web.errors import safe_next
from berth_frontend.web.money import format_money, to_minor
from berth_frontend.web.session import RefreshCoordinator, TokenPair
from berth_frontend.web.tables import table_state


@pytest.mark.parametrize(
    ("text", "currency", "minor"),
    [
        ("12.50", "EUR", 1250),
        ("12,5", "EUR", 1250),
        ("7", "EUR", 700),
        ("300", "JPY", 300),
        ("1.234", "KWD", 1234),
    ],
)
def test_amounts_become_minor_units(text, currency, minor):
    assert to_minor(text, currency) == minor


@pytest.mark.parametrize("text", ["", "abc", "-5", "0", "1.001", "NaN", "Infinity", "1e9"])
def test_bad_amounts_are_refused_with_a_reason(text):
    with pytest.raises(ValueError, match=r"\w"):
        to_minor(text, "EUR")


def test_money_is_formatted_exactly():
    assert format_money(-123456, "EUR") == "-1,234.56 EUR"
    assert format_money(5, "JPY") == "5 JPY"
    assert format_money(None, "EUR") == "—"


def test_table_state_keeps_only_valid_choices():
    table = table_state(
        {"page": "3", "size": "7", "sort": "-email", "role": "root", "q": " ada\x00 ", "x": "1"},
        sorts=("email", "created_at"),
        default_sort="-created_at",
        filters={"role": ("user", "admin"), "q": None},
    )
    assert (table.page, table.size, table.sort) == (3, 20, "-email")
    assert table.filters == {"q": "ada"}
    assert table.query(sort="email") == {"q": "ada", "sort": "email"}  # back to page 1
    assert table.query(page=4) == {"q": "ada", "sort": "-email", "page": 4}
    assert table.sort_for("email") == "email" and table.sorted_by("email") == "descending"
    bad = table_state({"page": "x", "sort": "password"}, sorts=("email",), default_sort="email")
    assert (bad.page, bad.sort) == (1, "email")


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("/panel/apps?page=2", "/panel/apps?page=2"),
        ("/admin", "/admin"),
        ("//evil.example/panel", "/panel"),
        ("https://evil.example/panel", "/panel"),
        ("/\\evil.example", "/panel"),
        ("/api/auth/v1/me", "/panel"),
        ("/panelx", "/panel"),
        (None, "/panel"),
    ],
)
def test_only_panel_and_admin_pages_are_return_targets(target, expected):
    assert safe_next(target) == expected


async def test_concurrent_refreshes_of_one_token_call_auth_once():
    coordinator = RefreshCoordinator(reuse_seconds=30)
    calls = 0

    async def refresh() -> TokenPair:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.05)
        return TokenPair("access-2", 600, f"refresh-{calls + 1}")

    pairs = await asyncio.gather(*(coordinator.run("refresh-1", refresh) for _ in range(5)))
    assert calls == 1 and len(set(pairs)) == 1
    # a request that arrives later with the same old cookie gets the same new pair
    assert await coordinator.run("refresh-1", refresh) == pairs[0] and calls == 1
    await coordinator.run("refresh-2", refresh)
    assert calls == 2


async def test_a_refused_refresh_token_is_not_tried_again():
    coordinator = RefreshCoordinator(reuse_seconds=30)
    calls = 0

    async def refused() -> TokenPair:
        nonlocal calls
        calls += 1
        raise ApiError("auth", 400, "invalid_grant", "refresh token reuse detected")

    for _ in range(3):
        with pytest.raises(ApiError):
            await coordinator.run("dead", refused)
    assert calls == 1


def test_calls_on_a_browsers_behalf_carry_its_address_where_auth_reads_it():
    """Behind a load balancer and Traefik (TRUSTED_PROXY_HOPS=2) the frontend still calls auth
    directly: auth, counting the same two hops, must see the browser's address, not ours."""
    from berth_frontend.web.backends import Caller

    for hops in (1, 2):
        header = Caller(client_ip="198.51.100.7", proxy_hops=hops).headers()["X-Forwarded-For"]
        assert forwarded_client(header, trusted_hops=hops) == "198.51.100.7"
