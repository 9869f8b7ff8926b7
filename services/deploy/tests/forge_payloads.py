"""Forge webhook deliveries as each forge sends them (headers, signature, payload shape), for
the deploy tests, the end-to-end tests and the webhook bench."""

import hashlib
import hmac
import json
import time
import uuid

FORGES = ("github", "gitlab", "gitea", "bitbucket")
PUSH_EVENT = {
    "github": "push",
    "gitlab": "Push Hook",
    "gitea": "push",
    "bitbucket": "repo:push",
}


def push_payload(
    forge: str, branch: str, sha: str, author: str = "Ada Lovelace", message: str = "change"
) -> dict:
    """A push of `sha` to `branch` in the forge's own shape (the parts Berth reads and some
    it does not)."""
    email = "ada@example.test"
    if forge == "github":
        return {
            "ref": f"refs/heads/{branch}",
            "before": "0" * 39 + "1",
            "after": sha,
            "deleted": False,
            "repository": {"id": 1, "full_name": "ada/app", "pushed_at": int(time.time())},
            "head_commit": {
                "id": sha,
                "message": message,
                "author": {"name": author, "email": email},
            },
        }
    if forge == "gitlab":
        return {
            "object_kind": "push",
            "ref": f"refs/heads/{branch}",
            "before": "0" * 39 + "1",
            "after": sha,
            "checkout_sha": sha,
            "user_name": author,
            "commits": [
                {"id": sha, "message": message, "author": {"name": author, "email": email}}
            ],
        }
    if forge == "gitea":
        return {
            "ref": f"refs/heads/{branch}",
            "before": "0" * 39 + "1",
            "after": sha,
            "head_commit": {
                "id": sha,
                "message": message,
                "author": {"name": author, "email": email, "username": "ada"},
            },
        }
    return {
        "push": {
            "changes": [
                {
                    "new": {
                        "type": "branch",
                        "name": branch,
                        "target": {
                            "type": "commit",
                            "hash": sha,
                            "message": message,
                            "author": {
                                "raw": f"{author} <{email}>",
                                "user": {"display_name": author},
                            },
                        },
                    },
                    "old": {"type": "branch", "name": branch},
                }
            ]
        }
    }


def signed(
    forge: str,
    secret: str,
    payload: dict,
    *,
    event: str | None = None,
    delivery: str | None = None,
    signature: str | None = None,
    raw: bytes | None = None,
) -> tuple[bytes, dict[str, str]]:
    """The body and headers the forge sends (`signature` overrides the proof it carries, `raw`
    the body signed instead of the payload's JSON)."""
    body = json.dumps(payload).encode() if raw is None else raw
    delivery = delivery or str(uuid.uuid4())
    event = event or PUSH_EVENT[forge]
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    headers = {"Content-Type": "application/json"}
    if forge == "github":
        headers |= {
            "X-GitHub-Event": event,
            "X-GitHub-Delivery": delivery,
            "X-Hub-Signature-256": signature or f"sha256={digest}",
        }
    elif forge == "gitlab":
        headers |= {
            "X-Gitlab-Event": event,
            "X-Gitlab-Event-UUID": delivery,
            "Idempotency-Key": delivery,
            "X-Gitlab-Token": signature or secret,
        }
    elif forge == "gitea":  # Forgejo: both header families, the same values
        headers |= {
            "X-Forgejo-Event": event,
            "X-Forgejo-Delivery": delivery,
            "X-Forgejo-Signature": signature or digest,
            "X-Gitea-Event": event,
            "X-Gitea-Delivery": delivery,
            "X-Gitea-Signature": signature or digest,
        }
    else:
        headers |= {
            "X-Event-Key": event,
            "X-Request-UUID": delivery,
            "X-Hub-Signature": signature or f"sha256={digest}",
        }
    return body, headers
