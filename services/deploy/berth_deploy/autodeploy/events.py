"""What the automatic sources report, in one shape: a branch of the app's repository moved to
a commit, or was deleted. A `git push` to Berth, a forge's webhook and a poll of the remote
each turn what they saw into BranchEvents; autodeploy.router decides what comes of them."""

from dataclasses import dataclass
from enum import StrEnum

from berth_deploy.enums import OperationTrigger, SourceKind
from berth_deploy.operations.cause import DeployCause


class BranchChange(StrEnum):
    PUSHED = "pushed"  # the branch now points at commit_sha (made, or moved)
    DELETED = "deleted"  # the branch (or the pull request from it) is gone


class Outcome(StrEnum):
    """What came of an event (a webhook delivery's `outcome`, a push's last lines)."""

    DEPLOYED = "deployed"  # a deploy of the commit was queued on the app
    DISABLED = "disabled"  # the tracked branch moved, but the app's auto-deploy is off
    IGNORED = "ignored"  # a branch nobody follows
    PREVIEW = "preview"  # a preview app was made or redeployed for the branch
    PREVIEW_REMOVED = "preview_removed"
    NOT_DEPLOYABLE = "not_deployable"  # the app may not deploy now (suspended, deleting ...)
    # a webhook naming a commit an earlier delivery already deployed on the app's branch: a
    # replay of an old body under a fresh (unsigned) delivery id must not roll the app back
    ALREADY_DEPLOYED = "already_deployed"


@dataclass(frozen=True)
class BranchEvent:
    change: BranchChange
    branch: str
    trigger: OperationTrigger
    source: SourceKind
    commit_sha: str | None = None  # None only for DELETED
    author: str | None = None  # the commit author's name; never an email
    message: str | None = None
    # a pull/merge request's number when the event is about one (its head is `branch`)
    pull_request: int | None = None

    def cause(self, trigger: OperationTrigger | None = None) -> DeployCause:
        return DeployCause(
            trigger=trigger or self.trigger,
            source=self.source,
            commit_sha=self.commit_sha,
            commit_author=self.author,
            commit_message=self.message,
        )


@dataclass(frozen=True)
class Routed:
    outcome: Outcome
    app_id: object | None = None  # the app deployed (the app itself, or its preview)
    operation_id: object | None = None
    # why nothing was done (a preview over its app's cap, a branch name that cannot be built)
    reason: str | None = None
