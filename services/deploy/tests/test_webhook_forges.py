"""Each forge's payloads read as that forge sends them: pushes, branch deletions, pull/merge
requests opened, updated and closed, forks' pull requests dropped, tags ignored, and commit
authors kept as names (an email never)."""

from forge_payloads import PUSH_EVENT, push_payload, signed

from berth_deploy.autodeploy.events import BranchChange
from berth_deploy.enums import Forge
from berth_deploy.webhooks.forges import ZERO_SHA, delivery, parse, verify

SHA = "3f786850e387550fdab836ed7e6dc881de23001b"


def changes(parsed):
    return [(e.change, e.branch, e.commit_sha, e.pull_request) for e in parsed.events]


def test_a_push_in_every_forge_names_its_branch_commit_and_author():
    for forge in Forge:
        parsed = parse(forge, PUSH_EVENT[forge], push_payload(forge, "main", SHA))
        assert changes(parsed) == [(BranchChange.PUSHED, "main", SHA, None)], forge
        assert parsed.events[0].author == "Ada Lovelace"


def test_deleted_branches_and_tags():
    github = {"ref": "refs/heads/old", "after": ZERO_SHA, "deleted": True}
    assert changes(parse(Forge.GITHUB, "push", github)) == [
        (BranchChange.DELETED, "old", None, None)
    ]
    gitlab = {"ref": "refs/heads/old", "after": ZERO_SHA, "checkout_sha": None, "commits": []}
    assert changes(parse(Forge.GITLAB, "Push Hook", gitlab)) == [
        (BranchChange.DELETED, "old", None, None)
    ]
    gitea = {"ref": "old", "ref_type": "branch"}
    assert changes(parse(Forge.GITEA, "delete", gitea)) == [
        (BranchChange.DELETED, "old", None, None)
    ]
    bitbucket = {"push": {"changes": [{"new": None, "old": {"type": "branch", "name": "old"}}]}}
    assert changes(parse(Forge.BITBUCKET, "repo:push", bitbucket)) == [
        (BranchChange.DELETED, "old", None, None)
    ]
    tag = {"ref": "refs/tags/v1", "after": SHA, "deleted": False}
    assert parse(Forge.GITHUB, "push", tag).events == []


def _github_pr(action: str, head_repo: int = 1) -> dict:
    return {
        "action": action,
        "number": 7,
        "pull_request": {
            "title": "Add a basket",
            "head": {"ref": "basket", "sha": SHA, "repo": {"id": head_repo}},
            "base": {"ref": "main", "repo": {"id": 1}},
        },
    }


def test_pull_requests_open_sync_and_close_and_forks_are_dropped():
    for action in ("opened", "synchronize", "reopened"):
        assert changes(parse(Forge.GITHUB, "pull_request", _github_pr(action))) == [
            (BranchChange.PUSHED, "basket", SHA, 7)
        ]
    assert changes(parse(Forge.GITHUB, "pull_request", _github_pr("closed"))) == [
        (BranchChange.DELETED, "basket", None, 7)
    ]
    assert parse(Forge.GITHUB, "pull_request", _github_pr("opened", head_repo=2)).kind == "other"
    assert parse(Forge.GITHUB, "pull_request", _github_pr("labeled")).events == []
    mr = {
        "object_attributes": {
            "iid": 3,
            "action": "merge",
            "source_branch": "basket",
            "source_project_id": 5,
            "target_project_id": 5,
            "last_commit": {"id": SHA, "author": {"name": "Ada", "email": "ada@example.test"}},
        }
    }
    assert changes(parse(Forge.GITLAB, "Merge Request Hook", mr)) == [
        (BranchChange.DELETED, "basket", None, 3)
    ]
    mr["object_attributes"]["source_project_id"] = 6
    assert parse(Forge.GITLAB, "Merge Request Hook", mr).kind == "other"


def test_authors_are_names_never_emails():
    payload = push_payload("bitbucket", "main", SHA)
    target = payload["push"]["changes"][0]["new"]["target"]
    del target["author"]["user"]
    assert parse(Forge.BITBUCKET, "repo:push", payload).events[0].author == "Ada Lovelace"
    target["author"]["raw"] = "ada@example.test"
    assert parse(Forge.BITBUCKET, "repo:push", payload).events[0].author is None


def test_proofs_and_delivery_ids_are_read_from_each_forge_s_headers():
    for forge in Forge:
        body, headers = signed(forge, "s3cret", {"a": 1}, event="ping", delivery="d-1")
        lower = {k.lower(): v for k, v in headers.items()}
        assert verify(forge, lower, body, "s3cret")
        assert not verify(forge, lower, body + b" ", "s3cret") or forge == Forge.GITLAB
        assert not verify(forge, lower, body, "other")
        assert delivery(forge, lower).delivery_id == "d-1"
    # Forgejo's own header decides: a good Gitea one does not rescue a bad Forgejo one
    body, headers = signed("gitea", "s3cret", {"a": 1})
    lower = {k.lower(): v for k, v in headers.items()} | {"x-forgejo-signature": "0" * 64}
    assert not verify(Forge.GITEA, lower, body, "s3cret")
