"""VPSes as the API shows them: the JSON of one, the SSH command, admins' resource use."""

import uuid
from collections.abc import Mapping
from typing import Any

from loguru import logger

from berth_deploy.config import DeploySettings
from berth_deploy.plans import PlanCatalog
from berth_deploy.vps import schemas
from berth_deploy.vps.enums import VpsStatus
from berth_deploy.vps.machine import MachineDriver
from berth_deploy.vps.models import Vps
from berth_deploy.vps.plans import catalog

# node -> the host it heartbeats (nodes.host): where another node's SSH forwards are reached
NodeHosts = Mapping[str, str]


def ssh_host_of(settings: DeploySettings, vps: Vps, hosts: NodeHosts) -> str:
    """DEPLOY_VPS_SSH_HOST for a VPS on this node; the host its node heartbeats otherwise."""
    if vps.node == settings.node_name or vps.node not in hosts:
        return settings.vps_ssh_host
    return hosts[vps.node]


def ssh_of(settings: DeploySettings, vps: Vps, hosts: NodeHosts) -> schemas.Ssh:
    host = ssh_host_of(settings, vps, hosts)
    live = vps.ssh_port is not None and vps.status not in (VpsStatus.DELETED,)
    port = vps.ssh_port if live else None
    command = f"ssh -p {port} root@{host}" if port else None
    return schemas.Ssh(host=host, port=port, user="root", command=command)


def _fields(settings: DeploySettings, vps: Vps, hosts: NodeHosts) -> dict[str, Any]:
    return {
        "id": vps.id,
        "owner_id": vps.owner_id,
        "name": vps.name,
        "hostname": vps.name,
        "plan": vps.plan,
        "kind": vps.kind,
        "image": vps.image,
        "status": vps.status,
        "status_reason": vps.status_reason,
        "suspended_by": vps.suspended_by,
        "vcpus": vps.vcpus,
        "memory_mb": vps.memory_mb,
        "disk_gb": vps.disk_gb,
        "ssh": ssh_of(settings, vps, hosts),
        "active_operation_id": vps.active_operation_id,
        "created_at": vps.created_at,
        "updated_at": vps.updated_at,
    }


def vps_out(settings: DeploySettings, vps: Vps, hosts: NodeHosts) -> schemas.Vps:
    return schemas.Vps(**_fields(settings, vps, hosts))


def usage_of(driver: MachineDriver | None, vps_id: uuid.UUID) -> dict[str, Any] | None:
    if driver is None:
        return None
    try:
        return dict(driver.usage(vps_id))
    except Exception as exc:  # a machine that is gone, or on another node
        logger.bind(vps_id=str(vps_id)).info("usage unavailable: {}", type(exc).__name__)
        return None


def admin_out(
    settings: DeploySettings, vps: Vps, driver: MachineDriver | None, hosts: NodeHosts
) -> schemas.AdminVps:
    # another node's machine: what its supervisor last measured
    here = vps.node == settings.node_name
    usage = usage_of(driver, vps.id) if here else vps.observed_usage
    return schemas.AdminVps(
        **_fields(settings, vps, hosts), node=vps.node, run_uid=vps.run_uid, usage=usage
    )


async def plans_out(settings: DeploySettings, billing: PlanCatalog) -> list[schemas.Plan]:
    prices = await billing.prices()
    out = []
    for plan in catalog(settings):
        max_vcpus, max_memory, max_disk = plan.limits
        amount, currency = prices.get(plan.billing_plan_key, (None, None))
        out.append(
            schemas.Plan(
                key=plan.key,
                name=plan.name,
                vcpus=plan.vcpus,
                memory_mb=plan.memory_mb,
                disk_gb=plan.disk_gb,
                max_vcpus=max_vcpus,
                max_memory_mb=max_memory,
                max_disk_gb=max_disk,
                billing_plan_key=plan.billing_plan_key,
                amount_per_hour=amount,
                currency=currency,
            )
        )
    return out
