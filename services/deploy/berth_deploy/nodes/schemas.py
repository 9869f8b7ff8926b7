from datetime import datetime

from pydantic import BaseModel

from berth_common.pagination import Page
from berth_deploy.nodes.placement import Room


class Node(BaseModel):
    name: str
    host: str
    status: str
    memory_mb: int
    cpus: int
    port_min: int
    port_max: int
    # what its live instances leave free
    memory_free_mb: int
    ports_free: int
    instances: int
    heartbeat_at: datetime
    status_changed_at: datetime

    @classmethod
    def of(cls, room: Room) -> "Node":
        n = room.node
        return cls(
            name=n.name,
            host=n.host,
            status=n.status,
            memory_mb=n.memory_mb,
            cpus=n.cpus,
            port_min=n.port_min,
            port_max=n.port_max,
            memory_free_mb=room.free_mb,
            ports_free=room.free_ports,
            instances=room.instances,
            heartbeat_at=n.heartbeat_at,
            status_changed_at=n.status_changed_at,
        )


class NodePage(Page[Node]):
    pass


class NodeDrain(BaseModel):
    node: Node
    # apps asked to move off it (a deploy of each one's current commit, on another node)
    apps_moving: int
    # its VPSes, which stay (and keep running) there: a VPS cannot move without its disk
    vps_staying: int
