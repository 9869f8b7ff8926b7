"""The app's state machine, and which operation may be asked for in which state.

created -> queued -> building -> starting -> running | failed; running -> stopping -> stopped;
suspended (billing or an admin, with a reason); deleting -> deleted. A redeploy, rollback or
restart of a running app keeps it `running` (its old instance serves until the switch); the
operation's own status tells how that is going.
"""

from berth_common.errors import Conflict
from berth_deploy.enums import (
    AppStatus,
    InstanceStatus,
    OperationKind,
    OperationStatus,
    OperationStep,
)


class IllegalTransition(Conflict):
    code = "illegal_transition"


class OperationInProgress(Conflict):
    code = "operation_in_progress"


class AccountSuspended(Conflict):
    code = "account_suspended"


class AppSuspended(Conflict):
    """A preview's app is suspended: nothing of it runs meanwhile."""

    code = "app_suspended"


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
REQUESTABLE: dict[OperationKind, frozenset[AppStatus]] = {
    OperationKind.DEPLOY: frozenset(
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
    OperationKind.ROLLBACK: frozenset(
        {
            AppStatus.QUEUED,
            AppStatus.BUILDING,
            AppStatus.STARTING,
            AppStatus.RUNNING,
            AppStatus.FAILED,
            AppStatus.STOPPED,
        }
    ),
    OperationKind.START: frozenset({AppStatus.STOPPED, AppStatus.FAILED}),
    OperationKind.STOP: frozenset({AppStatus.RUNNING, AppStatus.FAILED}),
    OperationKind.RESTART: frozenset({AppStatus.RUNNING}),
    OperationKind.SUSPEND: frozenset(
        {
            AppStatus.QUEUED,
            AppStatus.BUILDING,
            AppStatus.STARTING,
            AppStatus.RUNNING,
            AppStatus.FAILED,
        }
    ),
    # running/stopping: billing unsuspends while its suspend is still on its way
    OperationKind.RESUME: frozenset({AppStatus.SUSPENDED, AppStatus.RUNNING, AppStatus.STOPPING}),
    OperationKind.DELETE: frozenset(
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
QUEUEABLE = frozenset(
    {
        OperationKind.DEPLOY,
        OperationKind.ROLLBACK,
        OperationKind.SUSPEND,
        OperationKind.RESUME,
        OperationKind.DELETE,
    }
)
# a newer one of these supersedes a queued one that has not started yet
DEPLOY_KINDS = frozenset({OperationKind.DEPLOY, OperationKind.ROLLBACK})
# operations that (re)start processes: refused while billing has the owner suspended
STARTS_PROCESSES = frozenset(
    {
        OperationKind.DEPLOY,
        OperationKind.ROLLBACK,
        OperationKind.START,
        OperationKind.RESTART,
        OperationKind.RESUME,
    }
)
# operations that take the app down: they cancel what is in flight rather than wait for it
TAKES_DOWN = frozenset({OperationKind.DELETE, OperationKind.SUSPEND})
# operations that stop the app's processes (what a take-down need not cancel)
STOPS_PROCESSES = frozenset({OperationKind.STOP, *TAKES_DOWN})
# the steps that count against a node's build slots
BUILD_STEPS = (OperationStep.CLONE, OperationStep.BUILD)
# how far an operation may go and still be cancelled (after the route switch it is done)
CANCELLABLE_STEPS = frozenset({None, *BUILD_STEPS, OperationStep.START})
# why an operation ends cancelled
CANCELLED_BY_REQUEST = "cancelled by request"
CANCELLED_BY = {
    OperationKind.DELETE: "the app is being deleted",
    OperationKind.SUSPEND: "the app is being suspended",
}


def check_transition(current: str, new: str) -> None:
    if new == current:
        return
    if new not in APP_TRANSITIONS.get(current, frozenset()):
        raise IllegalTransition(
            f"An app that is {current} cannot become {new}",
            details={"status": current, "to": new},
        )


def check_requestable(kind: OperationKind, status: str) -> None:
    if status not in REQUESTABLE[kind]:
        raise IllegalTransition(
            f"Cannot {kind} an app that is {status}",
            details={"status": status, "operation": kind},
        )
