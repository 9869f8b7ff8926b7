"""Channel secrets at rest: Fernet with MONITORING_CHANNEL_ENCRYPTION_KEY (comma-separated
keys: the first encrypts, every one decrypts, so a key rotates by prepending a new one)."""

import secrets

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from berth_monitoring.config import MonitoringSettings


class ChannelCipher:
    def __init__(self, keys: str):
        parts = [k.strip() for k in keys.split(",") if k.strip()]
        if not parts:
            raise ValueError("MONITORING_CHANNEL_ENCRYPTION_KEY is empty")
        try:
            self._fernet = MultiFernet([Fernet(k) for k in parts])
        except (ValueError, TypeError) as exc:
            raise ValueError(
                "MONITORING_CHANNEL_ENCRYPTION_KEY holds an invalid Fernet key"
            ) from exc

    @classmethod
    def from_settings(cls, settings: MonitoringSettings) -> "ChannelCipher":
        if settings.channel_encryption_key is None:
            raise ValueError("MONITORING_CHANNEL_ENCRYPTION_KEY is not set")
        return cls(settings.channel_encryption_key.get_secret_value())

    def encrypt(self, value: str) -> str:
        return self._fernet.encrypt(value.encode()).decode()

    def decrypt(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode()).decode()
        except InvalidToken as exc:
            raise RuntimeError("channel secret not decryptable with the configured keys") from exc


def new_signing_secret() -> str:
    """A webhook's signing secret, made by the server and shown to its owner once."""
    return f"whsec_{secrets.token_urlsafe(32)}"


def hint(secret: str) -> str:
    """What a page may show of a secret: its last four characters."""
    return f"…{secret[-4:]}"
