"""The platform's git hooks, run by git receive-pack on a push (standard library only: it
starts with `python -I`, in a few milliseconds).

pre-receive refuses the whole push when one ref update is not allowed: refs other than
branches (tags too), deleting the deployed branch, a rewrite of history when the app's force
pushes are off, a repository grown past its limit. post-receive hands the updates to the
deploy web process that serves this push (a Unix socket only it listens on, with this push's
key) and prints what it answers: the deploy's steps and build lines, then its result. git
shows all of it to the person pushing as `remote: ...`.

The web process sets BERTH_BRANCH, BERTH_ALLOW_FORCE, BERTH_REPO_MAX_BYTES, BERTH_PUSH_SOCKET
and BERTH_PUSH_KEY in git's environment; hooks inherit it.
"""

import os
import socket
import subprocess
import sys

HEADS = "refs/heads/"


def _zero(sha: str) -> bool:
    return set(sha) == {"0"}


def _objects_bytes() -> int:
    total = 0
    for root, _, files in os.walk("objects"):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except FileNotFoundError:
                pass
    return total


def _is_ancestor(old: str, new: str) -> bool:
    found = subprocess.run(  # noqa: S603 - fixed argv; git's own ids
        ["git", "merge-base", "--is-ancestor", old, new],  # noqa: S607 - git from PATH
        capture_output=True,
        check=False,
    )
    return found.returncode == 0


def refusals(updates: list[tuple[str, str, str]]) -> list[str]:
    tracked = os.environ.get("BERTH_BRANCH", "")
    allow_force = os.environ.get("BERTH_ALLOW_FORCE") == "1"
    problems = []
    for old, new, ref in updates:
        if not ref.startswith(HEADS):
            problems.append(f"{ref}: only branches can be pushed to Berth (no tags, no other refs)")
            continue
        branch = ref[len(HEADS) :]
        if _zero(new):
            if branch == tracked:
                problems.append(f"{branch}: the app's deployed branch cannot be deleted")
            continue
        if not _zero(old) and not allow_force and not _is_ancestor(old, new):
            problems.append(
                f"{branch}: force pushes are off for this app (a push may only add commits; "
                "turn on 'allow force push' in the app's settings to rewrite history)"
            )
    limit = int(os.environ.get("BERTH_REPO_MAX_BYTES") or 0)
    if limit and (size := _objects_bytes()) > limit:
        problems.append(
            f"the repository would take {size // 1024} KiB, over this platform's limit of "
            f"{limit // 1024} KiB"
        )
    return problems


def pre_receive() -> int:
    updates = [tuple(line.split(" ", 2)) for line in sys.stdin.read().splitlines() if line]
    problems = refusals([u for u in updates if len(u) == 3])  # type: ignore[misc]
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    if problems:
        print("error: push refused by Berth; nothing was stored", file=sys.stderr)
    return 1 if problems else 0


def post_receive() -> int:
    updates = sys.stdin.read()
    path, key = os.environ.get("BERTH_PUSH_SOCKET"), os.environ.get("BERTH_PUSH_KEY")
    if not path or not key:
        return 0
    out = sys.stdout.buffer
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
            conn.connect(path)
            conn.sendall(f"{key}\n{updates}".encode())
            conn.shutdown(socket.SHUT_WR)
            with conn.makefile("rb") as answer:
                for line in answer:
                    out.write(line)
                    out.flush()
    except OSError:
        out.write(b"Berth could not be told about this push; the commit is stored.\n")
        out.write(b"Deploy it from the panel.\n")
        out.flush()
    return 0


if __name__ == "__main__":
    hook = sys.argv[1] if len(sys.argv) > 1 else ""
    sys.exit({"pre-receive": pre_receive, "post-receive": post_receive}[hook]())
