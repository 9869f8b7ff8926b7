"""Account flows a visitor goes through, over auth's public account API."""

from berth_frontend.web.backends import Backends, Caller

ACCOUNTS = "/api/auth/v1"


async def register(backends: Backends, caller: Caller, *, email: str, password: str, name: str):
    return await backends.auth.post(
        f"{ACCOUNTS}/register", caller, {"email": email, "password": password, "name": name}
    )


async def verify_email(backends: Backends, caller: Caller, *, email: str, code: str):
    return await backends.auth.post(
        f"{ACCOUNTS}/verify-email", caller, {"email": email, "code": code}
    )


async def resend_code(backends: Backends, caller: Caller, *, email: str) -> None:
    await backends.auth.post(
        f"{ACCOUNTS}/resend-code", caller, {"email": email, "purpose": "verify_email"}
    )


async def request_reset(backends: Backends, caller: Caller, *, email: str) -> None:
    await backends.auth.post(f"{ACCOUNTS}/password-reset/request", caller, {"email": email})


async def confirm_reset(
    backends: Backends, caller: Caller, *, email: str, code: str, new_password: str
) -> None:
    await backends.auth.post(
        f"{ACCOUNTS}/password-reset/confirm",
        caller,
        {"email": email, "code": code, "new_password": new_password},
    )
