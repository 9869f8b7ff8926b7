"""An app's automatic deploys over deploy's API: its settings, its webhook secret and the
recent deliveries."""

from typing import Any

from berth_frontend.apps.service import app_path
from berth_frontend.web.backends import Backends, Caller

# (API name, label) of the forges, in the order the panel shows them
FORGES = (
    ("github", "GitHub"),
    ("gitlab", "GitLab"),
    ("gitea", "Gitea / Forgejo"),
    ("bitbucket", "Bitbucket Cloud"),
)
POLL_CHOICES = (
    (0, "never"),
    (60, "every minute"),
    (300, "every 5 minutes"),
    (900, "every 15 minutes"),
    (3600, "every hour"),
    (86400, "every day"),
)


async def webhook(backends: Backends, caller: Caller, app_id: str) -> dict[str, Any]:
    return await backends.deploy.get(f"{app_path(app_id)}/webhook", caller)


async def update(backends: Backends, caller: Caller, app_id: str, body: dict[str, Any]) -> None:
    await backends.deploy.patch(app_path(app_id), caller, body)


async def make_secret(backends: Backends, caller: Caller, app_id: str) -> dict[str, Any]:
    return await backends.deploy.post(f"{app_path(app_id)}/webhook-secret", caller)


async def remove_secret(backends: Backends, caller: Caller, app_id: str) -> None:
    await backends.deploy.delete(f"{app_path(app_id)}/webhook-secret", caller)
