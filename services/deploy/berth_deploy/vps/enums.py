"""A VPS's statuses and the kinds of its operations (columns hold the values)."""

from enum import StrEnum


class VpsStatus(StrEnum):
    CREATING = "creating"
    STARTING = "starting"
    RUNNING = "running"
    STOPPING = "stopping"
    STOPPED = "stopped"
    REBOOTING = "rebooting"
    SUSPENDED = "suspended"
    FAILED = "failed"
    DELETING = "deleting"
    DELETED = "deleted"


# statuses in which a VPS's machine holds (or is about to hold) its memory on its node: what
# placement counts against the node's room, apps and VPSes alike
HOLDS_MEMORY = (
    VpsStatus.CREATING,
    VpsStatus.STARTING,
    VpsStatus.RUNNING,
    VpsStatus.STOPPING,
    VpsStatus.REBOOTING,
)


class VpsOperationKind(StrEnum):
    CREATE = "create"
    START = "start"
    STOP = "stop"
    REBOOT = "reboot"  # soft: the guest reboots itself
    RESET = "reset"  # hard: the machine is reset
    REINSTALL = "reinstall"
    RESIZE = "resize"
    SNAPSHOT = "snapshot"
    RESTORE = "restore"
    DELETE_SNAPSHOT = "delete_snapshot"
    DELETE = "delete"
    SUSPEND = "suspend"
    RESUME = "resume"


class SnapshotStatus(StrEnum):
    CREATING = "creating"
    READY = "ready"
    FAILED = "failed"
    DELETING = "deleting"
    DELETED = "deleted"


# what a user may ask for directly (suspend/resume are billing's and admins')
USER_ACTIONS = {
    "start": VpsOperationKind.START,
    "stop": VpsOperationKind.STOP,
    "reboot": VpsOperationKind.REBOOT,
    "reset": VpsOperationKind.RESET,
    "reinstall": VpsOperationKind.REINSTALL,
}
# the status a request moves the VPS to at once
STATUS_ON_REQUEST = {
    VpsOperationKind.DELETE: VpsStatus.DELETING,
    VpsOperationKind.START: VpsStatus.STARTING,
    VpsOperationKind.STOP: VpsStatus.STOPPING,
    VpsOperationKind.REBOOT: VpsStatus.REBOOTING,
    VpsOperationKind.RESET: VpsStatus.REBOOTING,
    VpsOperationKind.REINSTALL: VpsStatus.CREATING,
}
# statuses from which each user-facing kind may be asked for
ALLOWED_FROM: dict[str, frozenset[str]] = {
    VpsOperationKind.START: frozenset({VpsStatus.STOPPED, VpsStatus.FAILED}),
    VpsOperationKind.STOP: frozenset({VpsStatus.RUNNING, VpsStatus.FAILED}),
    VpsOperationKind.REBOOT: frozenset({VpsStatus.RUNNING}),
    VpsOperationKind.RESET: frozenset({VpsStatus.RUNNING, VpsStatus.FAILED}),
    VpsOperationKind.REINSTALL: frozenset({VpsStatus.RUNNING, VpsStatus.STOPPED, VpsStatus.FAILED}),
    VpsOperationKind.RESIZE: frozenset({VpsStatus.RUNNING, VpsStatus.STOPPED}),
    VpsOperationKind.SNAPSHOT: frozenset({VpsStatus.RUNNING, VpsStatus.STOPPED}),
    VpsOperationKind.RESTORE: frozenset({VpsStatus.RUNNING, VpsStatus.STOPPED, VpsStatus.FAILED}),
    VpsOperationKind.DELETE_SNAPSHOT: frozenset(
        {VpsStatus.RUNNING, VpsStatus.STOPPED, VpsStatus.FAILED, VpsStatus.SUSPENDED}
    ),
}
