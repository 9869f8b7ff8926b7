"""Login throttling: who may try a password now, and how fast.

- Per (account, address): at most AUTH_LOGIN_MAX_FAILURES_PER_ACCOUNT_IP attempts in
  AUTH_LOGIN_WINDOW_MINUTES. Each attempt is counted by one upsert *before* the password is
  checked, so concurrent guesses never get more than the limit evaluated; the right password
  resets the pair. Someone guessing from elsewhere locks out only their own address.
- Per address across accounts (password spraying): AUTH_LOGIN_MAX_FAILURES_PER_IP wrong
  guesses in the window, read from the login history.
- Per account across all addresses (many addresses at once): past
  AUTH_LOGIN_BACKSTOP_FAILURES wrong guesses in the window (since the last success), every
  attempt first waits AUTH_LOGIN_BACKSTOP_DELAY_SECONDS. Slower for everyone, locked out for
  nobody: the owner still gets in with the right password.

Everything keys on the email as given (lower-cased), registered or not, and answers the same
either way, so throttling never tells whether an account exists.
"""

from datetime import UTC, datetime, timedelta

from authlib.oauth2.rfc6749.errors import OAuth2Error
from loguru import logger
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from berth_auth.config import AuthSettings
from berth_auth.dao import LoginEventDAO
from berth_auth.deps import ClientMeta
from berth_auth.throttle.dao import LoginAttemptWindowDAO


class LoginThrottled(OAuth2Error):
    """Too many wrong guesses for this account from this address, or from this address
    (429, with Retry-After)."""

    error = "rate_limited"
    status_code = 429

    def __init__(self, retry_after: int):
        super().__init__(description="Too many failed login attempts, retry later")
        self.retry_after = max(1, retry_after)

    def get_headers(self) -> list[tuple[str, str]]:
        return [*super().get_headers(), ("Retry-After", str(self.retry_after))]


def login_email(username: str) -> str:
    """The key of every per-account limit: the email as given, trimmed and lower-cased."""
    return username.strip().lower()


def _now() -> datetime:
    return datetime.now(UTC)


def _seconds_until(moment: datetime) -> int:
    return max(1, int((moment - _now()).total_seconds()) + 1)


async def backstop_delay(
    sessionmaker: async_sessionmaker[AsyncSession], settings: AuthSettings, username: str
) -> float:
    """Seconds an attempt at this account waits before it is checked (0 below the backstop).

    Read in a short session of its own, before the request's session is used: the wait then
    holds no database connection, so slowed attempts cannot drain the pool.
    """
    threshold = settings.login_backstop_failures
    since = _now() - timedelta(minutes=settings.login_window_minutes)
    async with sessionmaker() as session:
        failures = await LoginEventDAO(session).recent_account_failures(
            login_email(username)[:254], since, threshold
        )
    if len(failures) < threshold:
        return 0.0
    logger.warning("login backstop: {} wrong guesses on one account, slowing it", len(failures))
    return settings.login_backstop_delay_seconds


class LoginThrottle:
    def __init__(self, session: AsyncSession, settings: AuthSettings):
        self.session = session
        self.settings = settings
        self.window = timedelta(minutes=settings.login_window_minutes)
        self.events = LoginEventDAO(session)
        self.attempts = LoginAttemptWindowDAO(session)

    async def admit(self, email: str, meta: ClientMeta) -> None:
        """Count this attempt; LoginThrottled (recorded in the history) when it may not be
        evaluated."""
        per_ip = self.settings.login_max_failures_per_ip
        if meta.ip:
            since = _now() - self.window
            failures = await self.events.recent_ip_failures(meta.ip, since, per_ip)
            if len(failures) >= per_ip:
                await self._refuse(email, meta, _seconds_until(failures[per_ip - 1] + self.window))
        attempts, started = await self.attempts.reserve(email, meta.ip or "", self.window)
        if attempts > self.settings.login_max_failures_per_account_ip:
            await self._refuse(email, meta, _seconds_until(started + self.window))

    async def passed(self, email: str, meta: ClientMeta) -> None:
        """The password was right: the (account, address) pair starts again from zero."""
        await self.attempts.release(email, meta.ip or "")

    async def _refuse(self, email: str, meta: ClientMeta, retry_after: int) -> None:
        await self.events.record(
            email=email,
            success=False,
            reason="rate_limited",
            user_id=None,
            ip=meta.ip,
            user_agent=meta.user_agent,
        )
        logger.warning("login throttled for {} seconds", retry_after)
        raise LoginThrottled(retry_after)
