"""Container apps' own rules: which image, from which registry, with which login.

The image reference is checked against the operator's allowlist when the app is made or
changed and again at every deploy (the allowlist may have shrunk). The registry password is
encrypted with the env key and never leaves the deploy service except to skopeo, in a memfd.
"""

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from berth_common.errors import Unprocessable
from berth_deploy.apps.dao import AppDAO
from berth_deploy.env.service import EnvCipher
from berth_deploy.models import App, Template
from berth_deploy.sandbox.images import RegistryAuth, check_allowed, parse_image

IMAGE_TEMPLATES = frozenset({"container"})
#: built on the node from the repository's Dockerfile (containers/dockerfile.py)
DOCKERFILE_TEMPLATES = frozenset({"dockerfile"})


def is_container(template_key: str) -> bool:
    """Runs an image it names (a Dockerfile app runs the image it builds, but names none)."""
    return template_key in IMAGE_TEMPLATES


def checked_image(image: str, allowed: list[str]) -> str:
    """The reference as it is stored: parsed, on an allowed registry (422 otherwise)."""
    ref = parse_image(image)
    check_allowed(ref, allowed)
    return str(ref)


def apply_container_fields(
    app: App,
    template: Template,
    *,
    image: str | None,
    container_port: int | None,
    registry_username: str | None,
    registry_password: str | None,
    allowed: list[str],
    cipher: EnvCipher,
) -> None:
    """Set what a container app runs; refuse container fields on any other template."""
    if template.key in DOCKERFILE_TEMPLATES and container_port is not None:
        app.container_port = container_port  # where the image it builds listens
        container_port = None
    if not is_container(template.key):
        if image or container_port or registry_username or registry_password:
            raise Unprocessable(
                f"The {template.key} template does not run images: no image or registry fields",
                details={"field": "image"},
            )
        return
    if image is not None:
        app.image = checked_image(image, allowed)
    if app.image is None:
        raise Unprocessable("A container app needs an image", details={"field": "image"})
    if container_port is not None:
        app.container_port = container_port
    if registry_username is not None:
        app.registry_username = registry_username or None
    if registry_password is not None:
        app.registry_password_encrypted = (
            cipher.encrypt(registry_password) if registry_password else None
        )
    if bool(app.registry_username) != bool(app.registry_password_encrypted):
        raise Unprocessable(
            "A registry login needs both a username and a password",
            details={"field": "registry_password"},
        )


async def registry_auth(
    session: AsyncSession, *, cipher: EnvCipher, app_id: uuid.UUID
) -> RegistryAuth | None:
    app = await AppDAO(session).get(app_id)
    if app is None or not app.registry_username or not app.registry_password_encrypted:
        return None
    return RegistryAuth(app.registry_username, cipher.decrypt(app.registry_password_encrypted))
