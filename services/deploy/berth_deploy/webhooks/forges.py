"""Each forge's webhook as that forge documents it: how a delivery proves it comes from the
forge, its id, its event, and the branch events its payload reports.

| forge           | proof (over the raw body)                           | delivery id          |
| --------------- | --------------------------------------------------- | -------------------- |
| GitHub          | X-Hub-Signature-256: sha256=<hex HMAC-SHA256>       | X-GitHub-Delivery    |
| GitLab          | X-Gitlab-Token: the secret itself (no signature)    | Idempotency-Key, else|
|                 |                                                     | X-Gitlab-Event-UUID  |
| Gitea / Forgejo | X-Forgejo-Signature or X-Gitea-Signature: <hex HMAC>| X-Forgejo-Delivery / |
|                 | (Forgejo sends both; its own one decides)           | X-Gitea-Delivery     |
| Bitbucket Cloud | X-Hub-Signature: sha256=<hex HMAC-SHA256>           | X-Request-UUID       |

Events: X-GitHub-Event, X-Gitlab-Event, X-Forgejo-Event / X-Gitea-Event, X-Event-Key.

Time: no forge signs a delivery time in a header. GitHub's push payload carries
`repository.pushed_at` inside the signed body, the only signed time any of them offers; a
`Date` header, when a forge or a proxy sends one, is checked too (unsigned: it only refuses).
Everything else rests on the delivery id being taken once.

Pull requests from forks are dropped: their commits are a stranger's code, and a preview of
them would run on the app owner's account.
"""

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from berth_deploy.autodeploy.events import BranchChange, BranchEvent
from berth_deploy.enums import Forge, OperationTrigger, SourceKind
from berth_deploy.sandbox.git import is_commit_sha
from berth_deploy.validation import CONTROL

ZERO_SHA = "0" * 40
PING = "ping"


@dataclass(frozen=True)
class Delivery:
    """What a verified request says: its id and event, and (once its body is read) the
    branch events it reports."""

    delivery_id: str | None
    event: str


@dataclass
class Parsed:
    kind: str  # "ping" | "events" | "other"
    events: list[BranchEvent] = field(default_factory=list)
    signed_at: datetime | None = None  # a time inside the signed body (GitHub's pushes)


def _hmac_hex(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _same(given: str | None, expected: str) -> bool:
    return given is not None and hmac.compare_digest(given.encode(), expected.encode())


def verify(forge: Forge, headers: Mapping[str, str], body: bytes, secret: str) -> bool:
    """Whether the request carries the forge's proof for this secret (constant-time compare;
    the HMAC is computed even when the header is missing, so both take as long)."""
    digest = _hmac_hex(secret, body)
    if forge == Forge.GITHUB:
        return _same(headers.get("x-hub-signature-256"), f"sha256={digest}")
    if forge == Forge.BITBUCKET:
        return _same(headers.get("x-hub-signature"), f"sha256={digest}")
    if forge == Forge.GITEA:
        given = headers.get("x-forgejo-signature") or headers.get("x-gitea-signature")
        return _same(given, digest)
    return _same(headers.get("x-gitlab-token"), secret)


def delivery(forge: Forge, headers: Mapping[str, str]) -> Delivery:
    if forge == Forge.GITHUB:
        return Delivery(headers.get("x-github-delivery"), headers.get("x-github-event", ""))
    if forge == Forge.GITLAB:
        return Delivery(
            headers.get("idempotency-key") or headers.get("x-gitlab-event-uuid"),
            headers.get("x-gitlab-event", ""),
        )
    if forge == Forge.GITEA:
        return Delivery(
            headers.get("x-forgejo-delivery") or headers.get("x-gitea-delivery"),
            headers.get("x-forgejo-event") or headers.get("x-gitea-event", ""),
        )
    return Delivery(headers.get("x-request-uuid"), headers.get("x-event-key", ""))


def _at(data: Any, *path: str | int) -> Any:
    """data[path...] or None where the payload lacks it (a forge's optional fields)."""
    for key in path:
        if isinstance(key, int):
            if not isinstance(data, list) or len(data) <= key:
                return None
        elif not isinstance(data, dict):
            return None
        data = data[key] if isinstance(key, int) else data.get(key)
    return data


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _unix_time(value: Any) -> datetime | None:
    """A payload's Unix time; one no clock has is the oldest time (refused as stale)."""
    if not isinstance(value, int) or isinstance(value, bool):
        return None
    try:
        return datetime.fromtimestamp(value, UTC)
    except (OverflowError, ValueError, OSError):
        return datetime.min.replace(tzinfo=UTC)


def _text(value: Any) -> str | None:
    """A string field, control characters dropped (NUL cannot be stored, ESC would colour a
    log or terminal)."""
    if not isinstance(value, str):
        return None
    value = CONTROL.sub("", value)
    return value if value.strip() else None


def _sha(value: Any) -> str | None:
    return value if isinstance(value, str) and is_commit_sha(value) else None


def _branch_of(ref: Any) -> str | None:
    if isinstance(ref, str) and ref.startswith("refs/heads/") and len(ref) > len("refs/heads/"):
        return ref.removeprefix("refs/heads/")
    return None


def _event(
    change: BranchChange,
    branch: Any,
    sha: Any = None,
    author: Any = None,
    message: Any = None,
    pull_request: Any = None,
) -> BranchEvent | None:
    if not isinstance(branch, str) or not branch or len(branch) > 255 or CONTROL.search(branch):
        return None  # git refuses control characters in a ref name
    commit = _sha(sha) if change == BranchChange.PUSHED else None
    if change == BranchChange.PUSHED and commit is None:
        return None
    number = pull_request if isinstance(pull_request, int) and pull_request > 0 else None
    return BranchEvent(
        change=change,
        branch=branch,
        trigger=OperationTrigger.WEBHOOK,
        source=SourceKind.REPO,
        commit_sha=commit,
        author=_author_name(author),
        message=_text(message),
        pull_request=number,
    )


def _author_name(value: Any) -> str | None:
    """A name only: Bitbucket's `raw` is "Name <email>", and an email never passes."""
    name = _text(value)
    if name is None:
        return None
    name = name.split("<", 1)[0].strip()
    return None if not name or "@" in name else name


def _push(ref: Any, after: Any, deleted: bool, author: Any, message: Any) -> list[BranchEvent]:
    branch = _branch_of(ref)
    if branch is None:  # tags and other refs deploy nothing
        return []
    if deleted or after == ZERO_SHA:
        event = _event(BranchChange.DELETED, branch)
    else:
        event = _event(BranchChange.PUSHED, branch, after, author, message)
    return [event] if event else []


def _pull(action: str, opened: set[str], closed: set[str], **fields: Any) -> list[BranchEvent]:
    if action in opened:
        event = _event(BranchChange.PUSHED, **fields)
    elif action in closed:
        event = _event(BranchChange.DELETED, fields["branch"], pull_request=fields["pull_request"])
    else:
        return []
    return [event] if event else []


def parse(forge: Forge, event: str, payload: Any) -> Parsed:
    return {
        Forge.GITHUB: _github,
        Forge.GITLAB: _gitlab,
        Forge.GITEA: _gitea,
        Forge.BITBUCKET: _bitbucket,
    }[forge](event, payload)


def _hub_push(p: Any, deleted: bool) -> list[BranchEvent]:
    """A push in GitHub's shape (Gitea and Forgejo send the same one)."""
    return _push(
        _at(p, "ref"),
        _at(p, "after"),
        deleted,
        _at(p, "head_commit", "author", "name"),
        _at(p, "head_commit", "message"),
    )


def _hub_pull_request(p: Any, synchronized: str) -> Parsed:
    """A pull request in GitHub's shape (Gitea's and Forgejo's differ in one action's name);
    one from another repository (a fork) is dropped."""
    if _at(p, "pull_request", "head", "repo", "id") != _at(p, "pull_request", "base", "repo", "id"):
        return Parsed("other")
    return Parsed(
        "events",
        _pull(
            _text(_at(p, "action")) or "",
            {"opened", "reopened", synchronized},
            {"closed"},
            branch=_at(p, "pull_request", "head", "ref"),
            sha=_at(p, "pull_request", "head", "sha"),
            message=_at(p, "pull_request", "title"),
            pull_request=_at(p, "number"),
        ),
    )


def _github(event: str, p: Any) -> Parsed:
    if event == PING:
        return Parsed(PING)
    if event == "push":
        signed = _unix_time(_at(p, "repository", "pushed_at"))
        return Parsed("events", _hub_push(p, _at(p, "deleted") is True), signed)
    if event == "pull_request":
        return _hub_pull_request(p, "synchronize")
    return Parsed("other")


def _gitlab(event: str, p: Any) -> Parsed:
    if event == "Push Hook":
        after = _at(p, "checkout_sha") or _at(p, "after")
        head = next(
            (c for c in _list(_at(p, "commits")) if isinstance(c, dict) and c.get("id") == after),
            {},
        )
        deleted = _at(p, "after") == ZERO_SHA
        events = _push(
            _at(p, "ref"), after, deleted, _at(head, "author", "name"), _at(head, "message")
        )
        return Parsed("events", events)
    if event == "Merge Request Hook":
        attrs = _at(p, "object_attributes") or {}
        if _at(attrs, "source_project_id") != _at(attrs, "target_project_id"):
            return Parsed("other")
        return Parsed(
            "events",
            _pull(
                _text(_at(attrs, "action")) or "",
                {"open", "reopen", "update"},
                {"close", "merge"},
                branch=_at(attrs, "source_branch"),
                sha=_at(attrs, "last_commit", "id"),
                author=_at(attrs, "last_commit", "author", "name"),
                message=_at(attrs, "title"),
                pull_request=_at(attrs, "iid"),
            ),
        )
    return Parsed("other")


def _gitea(event: str, p: Any) -> Parsed:
    if event == PING:
        return Parsed(PING)
    if event == "push":
        return Parsed("events", _hub_push(p, False))
    if event == "delete":
        if _at(p, "ref_type") != "branch":
            return Parsed("other")
        deleted = _event(BranchChange.DELETED, _at(p, "ref"))
        return Parsed("events", [deleted] if deleted else [])
    if event == "pull_request":
        return _hub_pull_request(p, "synchronized")
    return Parsed("other")


def _bitbucket(event: str, p: Any) -> Parsed:
    if event == "diagnostics:ping":
        return Parsed(PING)
    if event == "repo:push":
        events = []
        for change in _list(_at(p, "push", "changes")):
            new, old = _at(change, "new"), _at(change, "old")
            if _at(new, "type") == "branch":
                target = _at(new, "target") or {}
                found = _event(
                    BranchChange.PUSHED,
                    _at(new, "name"),
                    _at(target, "hash"),
                    _at(target, "author", "user", "display_name") or _at(target, "author", "raw"),
                    _at(target, "message"),
                )
            elif new is None and _at(old, "type") == "branch":
                found = _event(BranchChange.DELETED, _at(old, "name"))
            else:
                found = None
            if found:
                events.append(found)
        return Parsed("events", events)
    if event.startswith("pullrequest:"):
        pr = _at(p, "pullrequest") or {}
        source = _at(pr, "source", "repository", "full_name")
        if source != _at(pr, "destination", "repository", "full_name"):
            return Parsed("other")
        return Parsed(
            "events",
            _pull(
                event.removeprefix("pullrequest:"),
                {"created", "updated"},
                {"fulfilled", "rejected"},
                branch=_at(pr, "source", "branch", "name"),
                # Bitbucket names a pull request's commit by a short hash: a full one or none
                sha=_at(pr, "source", "commit", "hash"),
                message=_at(pr, "title"),
                pull_request=_at(pr, "id"),
            ),
        )
    return Parsed("other")
