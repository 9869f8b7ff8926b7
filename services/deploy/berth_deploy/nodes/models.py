"""The nodes and the app routes, in deploy's schema (registered on deploy's Base by models.py).

A node row is written by its supervisor's heartbeat (capacity, reachable host); its status is
the platform's word (an admin drains it, the failover check marks it down). A route row is the
instance Traefik sends an app's host to: written by the node that runs it, read by Traefik's
HTTP provider through the deploy web process, so one Traefik serves apps on every node.
"""

import uuid
from datetime import datetime

from sqlalchemy import DateTime, Integer, String
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from berth_common.columns import now_timestamp, touched_timestamp
from berth_deploy.models import Base


class Node(Base):
    __tablename__ = "nodes"
    __mapper_args__ = {"eager_defaults": True}

    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    # where Traefik reaches the node's app ports
    host: Mapped[str] = mapped_column(String(255), nullable=False)
    memory_mb: Mapped[int] = mapped_column(Integer, nullable=False)
    cpus: Mapped[int] = mapped_column(Integer, nullable=False)
    port_min: Mapped[int] = mapped_column(Integer, nullable=False)
    port_max: Mapped[int] = mapped_column(Integer, nullable=False)
    # its VPSes' SSH ports (DEPLOY_VPS_PORT_MIN..MAX there); null until it heartbeats them
    vps_port_min: Mapped[int | None] = mapped_column(Integer)
    vps_port_max: Mapped[int | None] = mapped_column(Integer)
    # where Traefik reaches the node's deploy web process (it serves its VPSes' consoles, the
    # machines' sockets being on its disk); null: it runs none
    web_url: Mapped[str | None] = mapped_column(String(255))
    # the VPSes its machine driver makes (kvm, container); null: it runs none
    vps_kind: Mapped[str | None] = mapped_column(String(16))
    # active | draining | down
    status: Mapped[str] = mapped_column(String(16), nullable=False, server_default="active")
    heartbeat_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    status_changed_at: Mapped[datetime] = now_timestamp()
    created_at: Mapped[datetime] = now_timestamp()


class Route(Base):
    __tablename__ = "routes"
    __mapper_args__ = {"eager_defaults": True}

    # one DNS label: the app's host is <slug>.<APPS_DOMAIN>
    slug: Mapped[str] = mapped_column(String(63), primary_key=True)
    instance_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    node: Mapped[str] = mapped_column(String(200), nullable=False)
    host: Mapped[str] = mapped_column(String(255), nullable=False)
    port: Mapped[int] = mapped_column(Integer, nullable=False)
    updated_at: Mapped[datetime] = touched_timestamp()
