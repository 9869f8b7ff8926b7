"""Small client-side helpers for tests and benchmarks that log in like the panel does."""

import httpx

PANEL_CLIENT_ID = "berth-panel"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def password_login(client: httpx.Client, email: str, password: str) -> httpx.Response:
    return client.post(
        "/oauth/token",
        data={
            "grant_type": "password",
            "username": email,
            "password": password,
            "client_id": PANEL_CLIENT_ID,
        },
    )


def refresh(client: httpx.Client, refresh_token: str) -> httpx.Response:
    return client.post(
        "/oauth/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": refresh_token,
            "client_id": PANEL_CLIENT_ID,
        },
    )
