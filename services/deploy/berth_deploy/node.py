"""This node's context for operations (process driver, routes, logs, env cipher), built
once per process (after fork in workers)."""

import logging

from loguru import logger

from berth_deploy.config import DeploySettings
from berth_deploy.env.service import EnvCipher
from berth_deploy.logs.store import LogStore
from berth_deploy.nodes.routes import DbRouteTable
from berth_deploy.operations.executor import NodeContext, Tx
from berth_deploy.sandbox import firewall
from berth_deploy.sandbox.local import LocalDriver
from berth_deploy.sandbox.routes import FileRouteTable, RouteTable


def build_node_context(settings: DeploySettings, tx: Tx) -> NodeContext:
    # health checks and route probes poll a lot: keep httpx's per-request lines out of the log
    logging.getLogger("httpx").setLevel(logging.WARNING)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    if settings.insecure_shared_network:
        warn_insecure_network()
        if settings.firewall:
            firewall.install(
                *settings.uid_range, settings.blocked_networks, settings.data_dir / "run"
            )
    return NodeContext(
        settings=settings,
        tx=tx,
        driver=LocalDriver(settings),
        routes=route_table(settings, tx),
        logs=LogStore(settings.data_dir),
        cipher=EnvCipher.from_settings(settings),
    )


def route_table(settings: DeploySettings, tx: Tx) -> RouteTable:
    if settings.route_provider == "file":
        return FileRouteTable(
            settings.traefik_dynamic_dir, settings.apps_domain, settings.entry_url
        )
    return DbRouteTable(
        tx, settings.node_name, settings.node_host, settings.apps_domain, settings.entry_url
    )


def warn_insecure_network() -> None:
    logger.critical(
        "DEPLOY_INSECURE_SHARED_NETWORK is set: apps and builds on this node share its "
        "network. A tenant's code can reach every service listening on this host "
        "(databases, the broker, the platform) and every network it is attached to. "
        "Never run strangers' code like this."
    )
