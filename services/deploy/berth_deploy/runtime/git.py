"""Fetching an app's source: which repository URLs are allowed, and a hardened shallow clone.

https:// always; file:// (or an absolute path) only where an admin allows local repositories
(DEPLOY_ALLOW_LOCAL_REPOS, dev and tests). Everything else (ssh, git://, ext::, scp-like
`host:path`, credentials in the URL, option-looking values) is refused before git ever runs,
and git itself runs with every other protocol disabled, no hooks, no prompts, no config.
"""

import asyncio
import os
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

from berth_common.errors import Unprocessable


class RepoNotAllowed(Unprocessable):
    code = "repo_not_allowed"


def normalise_repo_url(url: str, *, allow_local: bool) -> str:
    url = url.strip()
    if not url or url.startswith("-") or any(c.isspace() for c in url) or "::" in url:
        raise RepoNotAllowed("Not a repository URL")
    if url.startswith("/"):
        url = "file://" + url
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme == "https":
        if not parts.hostname or parts.username or parts.password:
            raise RepoNotAllowed(
                "Use https://host/owner/repo without credentials in the URL",
                details={"url": "https"},
            )
        if parts.query or parts.fragment:
            raise RepoNotAllowed("Query strings and fragments are not allowed in repository URLs")
        return url
    if scheme == "file":
        if not allow_local:
            raise RepoNotAllowed("Local repositories are not enabled on this platform")
        if parts.netloc not in ("", "localhost") or not parts.path.startswith("/"):
            raise RepoNotAllowed("Use file:///absolute/path")
        if any(segment == ".." for segment in parts.path.split("/")):
            raise RepoNotAllowed("Relative segments are not allowed")
        return f"file://{parts.path}"
    raise RepoNotAllowed(
        "Only https:// repositories are supported", details={"scheme": scheme or None}
    )


def git_env(home: str) -> dict[str, str]:
    return {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": home,
        "LANG": "C.UTF-8",
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_PROTOCOL_FROM_USER": "0",
        "GIT_ASKPASS": "/bin/false",
        "SSH_ASKPASS": "/bin/false",
    }


def clone_argv(url: str, branch: str, dest: Path, *, allow_local: bool) -> list[str]:
    allowed = ["-c", "protocol.https.allow=always"]
    if allow_local:
        allowed += ["-c", "protocol.file.allow=always"]
    return [
        "git",
        "-c",
        "protocol.allow=never",
        *allowed,
        "-c",
        "core.hooksPath=/dev/null",
        "-c",
        "core.fsmonitor=false",
        "-c",
        "credential.helper=",
        "-c",
        "http.followRedirects=initial",
        "-c",
        "advice.detachedHead=false",
        "clone",
        "--quiet",
        "--depth",
        "1",
        "--single-branch",
        "--no-tags",
        "--branch",
        branch,
        "--",
        url,
        str(dest),
    ]


async def start_clone(
    url: str, branch: str, dest: Path, log_path: Path, *, allow_local: bool
) -> tuple[asyncio.subprocess.Process, str]:
    """Start `git clone` (its own process group) writing to the build log."""
    home = tempfile.mkdtemp(prefix="berth-git-")
    log = os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        proc = await asyncio.create_subprocess_exec(
            *clone_argv(url, branch, dest, allow_local=allow_local),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            env=git_env(home),
            start_new_session=True,
        )
    finally:
        os.close(log)
    return proc, home


async def head_commit(repo: Path) -> str:
    proc = await asyncio.create_subprocess_exec(
        "git",
        "-C",
        str(repo),
        "rev-parse",
        "HEAD",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
        env=git_env(tempfile.gettempdir()),
    )
    out, _ = await proc.communicate()
    return out.decode().strip()
