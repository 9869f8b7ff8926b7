"""The app's state machine, and which operation may be asked for in which state.

created -> queued -> building -> starting -> running | failed; running -> stopping -> stopped;
suspended (billing or an admin, with a reason); deleting -> deleted. A redeploy, rollback or
restart of a running app keeps it `running` (its old instance serves until the switch); the
operation's own status tells how that is going.
"""

from berth_common.errors import Conflict


class IllegalTransition(Conflict):
    code = "illegal_transition"


class OperationInProgress(Conflict):
    code = "operation_in_progress"


class AccountSuspended(Conflict):
    code = "account_suspended"


ACTIVE_OPERATION = ("queued", "running")
LIVE_INSTANCE = ("starting", "running", "crashed", "stopping")
SERVING_INSTANCE = ("running", "crashed")

APP_TRANSITIONS: dict[str, frozenset[str]] = {
    "created": frozenset({"queued", "deleting"}),
    "queued": frozenset(
        {"building", "starting", "created", "stopped", "failed", "suspended", "deleting"}
    ),
    "building": frozenset(
        {"starting", "failed", "created", "stopped", "suspended", "stopping", "deleting"}
    ),
    "starting": frozenset(
        {"running", "failed", "created", "stopped", "suspended", "stopping", "deleting"}
    ),
    # starting: a recreate (stop, then start) restart or redeploy
    "running": frozenset({"starting", "stopping", "failed", "suspended", "deleting"}),
    "failed": frozenset({"queued", "starting", "stopping", "stopped", "suspended", "deleting"}),
    "stopping": frozenset({"stopped", "suspended", "failed", "deleting"}),
    "stopped": frozenset({"queued", "starting", "deleting"}),
    "suspended": frozenset({"starting", "failed", "stopped", "deleting"}),
    "deleting": frozenset({"deleted"}),
    "deleted": frozenset(),
}

# the app states in which each operation may be requested
REQUESTABLE: dict[str, frozenset[str]] = {
    "deploy": frozenset(
        {"created", "queued", "building", "starting", "running", "failed", "stopped"}
    ),
    "rollback": frozenset({"queued", "building", "starting", "running", "failed", "stopped"}),
    "start": frozenset({"stopped", "failed"}),
    "stop": frozenset({"running", "failed"}),
    "restart": frozenset({"running"}),
    "suspend": frozenset({"queued", "building", "starting", "running", "failed"}),
    # running/stopping: billing unsuspends while its suspend is still on its way
    "resume": frozenset({"suspended", "running", "stopping"}),
    "delete": frozenset(
        {
            "created",
            "queued",
            "building",
            "starting",
            "running",
            "failed",
            "stopping",
            "stopped",
            "suspended",
            "deleting",  # asked again after a delete that failed
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
