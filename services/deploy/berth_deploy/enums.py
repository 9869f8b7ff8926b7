"""The statuses and kinds of deploy's rows, one enum each. The columns stay strings with these
values (StrEnum members compare equal to them), so no migration follows from a rename here."""

from enum import StrEnum


class AppStatus(StrEnum):
    CREATED = "created"
    QUEUED = "queued"
    BUILDING = "building"
    STARTING = "starting"
    RUNNING = "running"
    FAILED = "failed"
    STOPPING = "stopping"
    STOPPED = "stopped"
    SUSPENDED = "suspended"
    DELETING = "deleting"
    DELETED = "deleted"


class NodeStatus(StrEnum):
    ACTIVE = "active"
    DRAINING = "draining"  # an admin moves its apps off; nothing new is placed on it
    DOWN = "down"  # silent past DEPLOY_NODE_DOWN_SECONDS: its apps were started elsewhere


class OperationStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    SUPERSEDED = "superseded"


class InstanceStatus(StrEnum):
    STARTING = "starting"
    RUNNING = "running"
    CRASHED = "crashed"
    STOPPING = "stopping"
    STOPPED = "stopped"
    FAILED = "failed"


class ReleaseStatus(StrEnum):
    BUILDING = "building"
    READY = "ready"
    FAILED = "failed"
    CANCELLED = "cancelled"
    PRUNED = "pruned"


class OperationKind(StrEnum):
    DEPLOY = "deploy"
    ROLLBACK = "rollback"
    START = "start"
    STOP = "stop"
    RESTART = "restart"
    SUSPEND = "suspend"
    RESUME = "resume"
    DELETE = "delete"


class OperationStep(StrEnum):
    """How far a running operation has got; a deploy goes clone, build, start, route,
    stop_old, a stop, suspend or delete through stop."""

    CLONE = "clone"
    BUILD = "build"
    START = "start"
    ROUTE = "route"
    STOP_OLD = "stop_old"
    STOP = "stop"


class OperationOrigin(StrEnum):
    """Who asked for an operation; a suspended app's `suspended_by` is one of these too."""

    USER = "user"
    BILLING = "billing"
    ADMIN = "admin"


class OperationTrigger(StrEnum):
    """What started a deploy: a person (or an API call), or one of the automatic sources."""

    MANUAL = "manual"
    PUSH = "push"  # a `git push` to the app's repository on Berth
    WEBHOOK = "webhook"  # a forge's push webhook
    POLL = "poll"  # the app's remote polled by beat found a new commit
    PREVIEW = "preview"  # a branch or pull request's preview app


class SourceKind(StrEnum):
    """Where a deploy's commit is fetched from."""

    REPO = "repo"  # the app's repo_url
    HOSTED = "hosted"  # the app's own repository on Berth (what `git push` stored)


class Forge(StrEnum):
    GITHUB = "github"
    GITLAB = "gitlab"
    GITEA = "gitea"  # Gitea and Forgejo sign the same way
    BITBUCKET = "bitbucket"


class LogKind(StrEnum):
    """A release's two logs: its build (clone and build steps) and its run (every instance)."""

    BUILD = "build"
    RUN = "run"


class ProcessType(StrEnum):
    """What a template runs: a web process (a port, a URL) or a worker (neither)."""

    WEB = "web"
    WORKER = "worker"


class RolloutStrategy(StrEnum):
    ZERO_DOWNTIME = "zero_downtime"
    RECREATE = "recreate"  # stop the old instance, then start the new one


class HealthCheckType(StrEnum):
    HTTP = "http"
    PROCESS = "process"  # a process that stays up: a worker has no port to ask
