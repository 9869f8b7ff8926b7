"""The app's state machine, and which operation may be asked for in which state.

created -> queued -> building -> starting -> running | failed; running -> stopping -> stopped;
suspended (billing or an admin, with a reason); deleting -> deleted. A redeploy, rollback or
restart of a running app keeps it `running` (its old instance serves until the switch); the
operation's own status tells how that is going.
"""

from berth_common.errors import Conflict
from berth_deploy.enums import AppStatus, InstanceStatus, OperationStatus


class IllegalTransition(Conflict):
    code = "illegal_transition"


class OperationInProgress(Conflict):
    code = "operation_in_progress"


class AccountSuspended(Conflict):
    code = "account_suspended"


ACTIVE_OPERATION = (OperationStatus.QUEUED, OperationStatus.RUNNING)
LIVE_INSTANCE = (
    InstanceStatus.STARTING,
    InstanceStatus.RUNNING,
    InstanceStatus.CRASHED,
    InstanceStatus.STOPPING,
)
SERVING_INSTANCE = (InstanceStatus.RUNNING, InstanceStatus.CRASHED)

APP_TRANSITIONS: dict[AppStatus, frozenset[AppStatus]] = {
    AppStatus.CREATED: frozenset({AppStatus.QUEUED, AppStatus.DELETING}),
    AppStatus.QUEUED: frozenset(
        {
            AppStatus.BUILDING,
            AppStatus.STARTING,
            AppStatus.CREATED,
            AppStatus.STOPPED,
            AppStatus.FAILED,
            AppStatus.SUSPENDED,
            AppStatus.DELETING,
        }
    ),
    AppStatus.BUILDING: frozenset(
        {
            AppStatus.STARTING,
            AppStatus.FAILED,
            AppStatus.CREATED,
            AppStatus.STOPPED,
            AppStatus.SUSPENDED,
            AppStatus.STOPPING,
            AppStatus.DELETING,
        }
    ),
    AppStatus.STARTING: frozenset(
        {
            AppStatus.RUNNING,
            AppStatus.FAILED,
            AppStatus.CREATED,
            AppStatus.STOPPED,
            AppStatus.SUSPENDED,
            AppStatus.STOPPING,
            AppStatus.DELETING,
        }
    ),
    # starting: a recreate (stop, then start) restart or redeploy
    AppStatus.RUNNING: frozenset(
        {
            AppStatus.STARTING,
            AppStatus.STOPPING,
            AppStatus.FAILED,
            AppStatus.SUSPENDED,
            AppStatus.DELETING,
        }
    ),
    AppStatus.FAILED: frozenset(
        {
            AppStatus.QUEUED,
            AppStatus.STARTING,
            AppStatus.STOPPING,
            AppStatus.STOPPED,
            AppStatus.SUSPENDED,
            AppStatus.DELETING,
        }
    ),
    AppStatus.STOPPING: frozenset(
        {AppStatus.STOPPED, AppStatus.SUSPENDED, AppStatus.FAILED, AppStatus.DELETING}
    ),
    AppStatus.STOPPED: frozenset({AppStatus.QUEUED, AppStatus.STARTING, AppStatus.DELETING}),
    AppStatus.SUSPENDED: frozenset(
        {AppStatus.STARTING, AppStatus.FAILED, AppStatus.STOPPED, AppStatus.DELETING}
    ),
    AppStatus.DELETING: frozenset({AppStatus.DELETED}),
    AppStatus.DELETED: frozenset(),
}

# the app states in which each operation may be requested
REQUESTABLE: dict[str, frozenset[AppStatus]] = {
    "deploy": frozenset(
        {
            AppStatus.CREATED,
            AppStatus.QUEUED,
            AppStatus.BUILDING,
            AppStatus.STARTING,
            AppStatus.RUNNING,
            AppStatus.FAILED,
            AppStatus.STOPPED,
        }
    ),
    "rollback": frozenset(
        {
            AppStatus.QUEUED,
            AppStatus.BUILDING,
            AppStatus.STARTING,
            AppStatus.RUNNING,
            AppStatus.FAILED,
            AppStatus.STOPPED,
        }
    ),
    "start": frozenset({AppStatus.STOPPED, AppStatus.FAILED}),
    "stop": frozenset({AppStatus.RUNNING, AppStatus.FAILED}),
    "restart": frozenset({AppStatus.RUNNING}),
    "suspend": frozenset(
        {
            AppStatus.QUEUED,
            AppStatus.BUILDING,
            AppStatus.STARTING,
            AppStatus.RUNNING,
            AppStatus.FAILED,
        }
    ),
    # running/stopping: billing unsuspends while its suspend is still on its way
    "resume": frozenset({AppStatus.SUSPENDED, AppStatus.RUNNING, AppStatus.STOPPING}),
    "delete": frozenset(
        {
            AppStatus.CREATED,
            AppStatus.QUEUED,
            AppStatus.BUILDING,
            AppStatus.STARTING,
            AppStatus.RUNNING,
            AppStatus.FAILED,
            AppStatus.STOPPING,
            AppStatus.STOPPED,
            AppStatus.SUSPENDED,
            AppStatus.DELETING,  # asked again after a delete that failed
        }
    ),
}
# operations that queue behind the one in progress; the others need the app idle
QUEUEABLE = frozenset({"deploy", "rollback", "suspend", "resume", "delete"})
# a newer one of these supersedes a queued one that has not started yet
DEPLOY_KINDS = frozenset({"deploy", "rollback"})
# operations that (re)start processes: refused while billing has the owner suspended
STARTS_PROCESSES = frozenset({"deploy", "rollback", "start", "restart", "resume"})
# how far an operation may go and still be cancelled (after the route switch it is done)
CANCELLABLE_STEPS = frozenset({None, "clone", "build", "start"})
# why an operation ends cancelled
CANCELLED_BY_REQUEST = "cancelled by request"
CANCELLED_BY = {"delete": "the app is being deleted", "suspend": "the app is being suspended"}


def check_transition(current: str, new: str) -> None:
    if new == current:
        return
    if new not in APP_TRANSITIONS.get(current, frozenset()):
        raise IllegalTransition(
            f"An app that is {current} cannot become {new}",
            details={"status": current, "to": new},
        )


def check_requestable(kind: str, status: str) -> None:
    if status not in REQUESTABLE[kind]:
        raise IllegalTransition(
            f"Cannot {kind} an app that is {status}",
            details={"status": status, "operation": kind},
        )
