"""The consoles of VPSes on nodes that run a deploy web process (DEPLOY_NODE_WEB_URL), as
Traefik routes. A machine's console socket is on its node's disk, so only a web process of
that node can relay it: each such VPS's console path goes to its node's web process, behind
the same gateway check as the deploy service's own console route (deploy-vps-console in
deploy/traefik/dynamic/deploy.yml, which serves the VPSes of the node Traefik's deploy
service runs on). Rendered with the app routes for Traefik's HTTP provider."""

import uuid
from typing import Any
from urllib.parse import urlsplit

from berth_deploy.vps.console.ws import WS_PATH

# over deploy-vps-console, whose priority is its rule's length
PRIORITY = 10_000
# the gateway's forwardAuth, defined by the file provider (middlewares.yml)
AUTH_MIDDLEWARE = "berth-auth@file"


def console_routes(
    targets: list[tuple[uuid.UUID, str, str]], platform_origins: frozenset[str]
) -> dict[str, dict[str, Any]]:
    """Routers and services of Traefik's dynamic configuration: one router per VPS, one
    service per node."""
    hosts = " || ".join(
        f"Host(`{urlsplit(origin).hostname}`)" for origin in sorted(platform_origins)
    )
    routers: dict[str, Any] = {}
    services: dict[str, Any] = {}
    for vps_id, node, web_url in targets:
        service = f"deploy-node-{node}"
        path = WS_PATH.format(vps_id=uuid.UUID(str(vps_id)))
        routers[f"vps-console-{vps_id}"] = {
            "entryPoints": ["web"],
            "rule": f"({hosts}) && Path(`{path}`)",
            "priority": PRIORITY,
            "middlewares": [AUTH_MIDDLEWARE],
            "service": service,
        }
        services[service] = {"loadBalancer": {"servers": [{"url": web_url.rstrip("/")}]}}
    return {"routers": routers, "services": services}
