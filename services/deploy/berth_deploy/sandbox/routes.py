"""Traefik routes of running web apps, and the probe that tells when Traefik serves one.

Host(`<slug>.<APPS_DOMAIN>`) on entry point `web` goes to <node host>:<port>, with no
forwardAuth (apps are public sites). A second router answers only requests carrying the
instance's probe header, and adds X-Berth-Route: <instance id> to the answer: when that
header comes back through Traefik, Traefik serves this version of the route.

Two tables hold them: rows Traefik's HTTP provider polls (nodes/routes.py: any number of
nodes, DEPLOY_ROUTE_PROVIDER=http) or, here, one file per app in the file provider's watched
directory (one node sharing Traefik's disk, DEPLOY_ROUTE_PROVIDER=file).
"""

import asyncio
import ipaddress
import os
import re
import time
import uuid
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any

import httpx
import yaml

PROBE_HEADER = "X-Berth-Probe"
ROUTE_HEADER = "X-Berth-Route"
PREFIX = "app-"
# app routers match one host only; above every platform router, whatever their rule length
PRIORITY = 100_000
# one DNS label: an app's slug, or a preview's `<slug>--<branch>` (up to 63)
_SLUG = re.compile(r"^[a-z][a-z0-9-]{1,61}[a-z0-9]$")
_DOMAIN = re.compile(
    r"^(?=.{1,200}$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$"
)


class InvalidRoute(ValueError):
    pass


def host_for(slug: str, domain: str) -> str:
    return f"{slug}.{domain}"


def _server_host(host: str) -> str:
    """The host part of a server URL: a name, an IPv4 address or a bracketed IPv6 one."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        if not _DOMAIN.match(host):
            raise InvalidRoute(f"invalid node host {host!r}") from None
        return host
    return f"[{address}]" if address.version == 6 else str(address)


def route_config(
    slug: str, domain: str, port: int, instance_id: uuid.UUID, host: str = "127.0.0.1"
) -> dict[str, Any]:
    if not _SLUG.fullmatch(slug):
        raise InvalidRoute(f"invalid slug {slug!r}")
    if not _DOMAIN.match(domain):
        raise InvalidRoute(f"invalid apps domain {domain!r}")
    server = _server_host(host)
    if not isinstance(port, int) or not 1024 <= port <= 65535:
        raise InvalidRoute(f"invalid port {port!r}")
    instance = str(uuid.UUID(str(instance_id)))
    name = f"{PREFIX}{slug}"
    host = f"Host(`{host_for(slug, domain)}`)"
    return {
        "http": {
            "routers": {
                name: {
                    "entryPoints": ["web"],
                    "rule": host,
                    "priority": PRIORITY,
                    "service": name,
                },
                f"{name}-probe": {
                    "entryPoints": ["web"],
                    "rule": f"{host} && Header(`{PROBE_HEADER}`, `{instance}`)",
                    "priority": PRIORITY + 1,
                    "service": name,
                    "middlewares": [f"{name}-probe"],
                },
            },
            "middlewares": {
                f"{name}-probe": {"headers": {"customResponseHeaders": {ROUTE_HEADER: instance}}}
            },
            "services": {
                name: {
                    "loadBalancer": {
                        "passHostHeader": True,
                        "servers": [{"url": f"http://{server}:{port}"}],
                    }
                }
            },
        }
    }


class RouteTable(ABC):
    """An app's host goes to one instance at a time; `wait` confirms it through Traefik."""

    def __init__(self, domain: str, entry_url: str):
        self.domain = domain
        self.entry_url = entry_url.rstrip("/")

    @abstractmethod
    async def publish(
        self, slug: str, port: int, instance_id: uuid.UUID, node: str | None = None
    ) -> None:
        """Route the app's host to the instance (on `node`, by default this one)."""

    @abstractmethod
    async def remove(self, slug: str, instance_id: uuid.UUID | str | None = None) -> None:
        """Take the app's route away (only while it still goes to `instance_id`, if given)."""

    @abstractmethod
    async def published(self, node: str | None = None) -> dict[str, str | None]:
        """slug -> the instance id its route serves (None when unreadable); `node`: only the
        routes to that node's instances."""

    async def _serves(self, client: httpx.AsyncClient, slug: str, instance_id: str) -> bool:
        try:
            resp = await client.get(
                f"{self.entry_url}/",
                headers={"Host": host_for(slug, self.domain), PROBE_HEADER: instance_id},
                timeout=httpx.Timeout(5.0, connect=1.0),
            )
        except httpx.HTTPError:
            return False
        return resp.headers.get(ROUTE_HEADER) == instance_id

    async def wait(self, slug: str, instance_id: uuid.UUID, *, served: bool, within: float) -> bool:
        """Poll through Traefik until the instance's route is (or is no longer) served."""
        deadline = time.monotonic() + within
        async with httpx.AsyncClient() as client:
            while time.monotonic() < deadline:
                if await self._serves(client, slug, str(instance_id)) == served:
                    return True
                await asyncio.sleep(0.1)
        return False


class FileRouteTable(RouteTable):
    """One YAML file per app in Traefik's watched directory (one node on Traefik's host)."""

    def __init__(self, directory: Path, domain: str, entry_url: str):
        super().__init__(domain, entry_url)
        self.directory = directory

    def path(self, slug: str) -> Path:
        return self.directory / f"{PREFIX}{slug}.yml"

    async def publish(
        self, slug: str, port: int, instance_id: uuid.UUID, node: str | None = None
    ) -> None:
        """Validate, write to a temp name Traefik ignores, then rename into place."""
        config = route_config(slug, self.domain, port, instance_id)
        text = yaml.safe_dump(config, sort_keys=True)
        if yaml.safe_load(text) != config:
            raise InvalidRoute("route file does not read back as written")
        self.directory.mkdir(parents=True, exist_ok=True)
        target = self.path(slug)
        tmp = self.directory / f".{target.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp"
        with tmp.open("w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)

    async def remove(self, slug: str, instance_id: uuid.UUID | str | None = None) -> None:
        if instance_id is None or (await self.published()).get(slug) == str(instance_id):
            self.path(slug).unlink(missing_ok=True)

    async def published(self, node: str | None = None) -> dict[str, str | None]:
        found: dict[str, str | None] = {}
        for path in self.directory.glob(f"{PREFIX}*.yml"):
            slug = path.name[len(PREFIX) : -len(".yml")]
            try:
                data = yaml.safe_load(path.read_text())
                middleware = data["http"]["middlewares"][f"{PREFIX}{slug}-probe"]
                found[slug] = middleware["headers"]["customResponseHeaders"][ROUTE_HEADER]
            except (OSError, KeyError, TypeError, yaml.YAMLError):
                found[slug] = None
        return found
