"""Fetching an app's source: which repository URLs are allowed, and the clone inside the sandbox.

https:// always, to a host whose every address is public; file:// only for repositories under
the one directory an operator names (DEPLOY_LOCAL_REPOS_DIR; dev and tests). Everything else
(ssh, git://, ext::, scp-like `host:path`, credentials in the URL, option-looking values,
loopback, private, link-local and metadata addresses in any spelling) is refused before git
runs. git itself runs in the app's sandbox (its own network namespace, the app's uid), never
in a platform process, with every other protocol disabled, no redirects, no hooks, no prompts
and no config; its raw output stays on the platform side and the build log gets a clean
summary, so the log is no port scanner.
"""

import asyncio
import ipaddress
import re
import shlex
import socket
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import urlsplit

from berth_common.errors import Unprocessable
from berth_deploy.sandbox.network import ALWAYS_BLOCKED

RESOLVE_SECONDS = 5.0
LOCAL_GITCONFIG = "/tmp/gitconfig"  # noqa: S108 - in the sandbox's own, empty /tmp
_LOCAL_NAMES = ("localhost", ".localhost", ".local", ".internal", ".localdomain", ".home.arpa")
_SHA = re.compile(r"^[0-9a-f]{40}([0-9a-f]{24})?$")
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class RepoNotAllowed(Unprocessable):
    code = "repo_not_allowed"


def normalise_repo_url(url: str, *, local_root: Path | None) -> str:
    """The URL git will be given, or RepoNotAllowed (no network is touched here)."""
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
        host = parts.hostname.rstrip(".")
        literal = literal_address(host)
        if literal is not None:
            if refused(literal, ()):
                raise RepoNotAllowed(
                    "The repository's address is not public", details={"host": host}
                )
        elif host == "localhost" or host.endswith(_LOCAL_NAMES) or "." not in host:
            raise RepoNotAllowed("The repository's host is not public", details={"host": host})
        return url
    if scheme == "file":
        return local_repo(parts.netloc, parts.path, local_root)
    raise RepoNotAllowed(
        "Only https:// repositories are supported", details={"scheme": scheme or None}
    )


def local_repo(netloc: str, path: str, local_root: Path | None) -> str:
    if local_root is None:
        raise RepoNotAllowed("Local repositories are not enabled on this platform")
    if netloc not in ("", "localhost") or not path.startswith("/"):
        raise RepoNotAllowed("Use file:///absolute/path")
    if any(segment == ".." for segment in path.split("/")):
        raise RepoNotAllowed("Relative segments are not allowed")
    real = Path(path).resolve()
    if not real.is_relative_to(local_root.resolve()):
        raise RepoNotAllowed("Local repositories must live under the platform's repository root")
    return f"file://{real}"


def local_path(url: str) -> Path | None:
    """The directory a file:// URL names (to be mounted, read only, into the clone's sandbox)."""
    parts = urlsplit(url)
    return Path(parts.path) if parts.scheme == "file" else None


def literal_address(host: str) -> IPAddress | None:
    """An IP literal in any spelling git's resolver would take: 127.1, 0x7f000001, 2130706433,
    017700000001, [::1]."""
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        pass
    try:
        return ipaddress.IPv4Address(socket.inet_aton(host))  # the legacy BSD forms
    except (OSError, UnicodeError):
        return None


def refused(address: IPAddress, blocked: Iterable[str]) -> bool:
    """True for every address a repository may not live at."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    if (
        address.is_loopback
        or (address.is_private and not _documentation(address))
        or address.is_link_local
        or address.is_multicast
        or address.is_unspecified
        or address.is_reserved
    ):
        return True
    networks = (ipaddress.ip_network(n) for n in (*ALWAYS_BLOCKED, *blocked))
    return any(address in n for n in networks if n.version == address.version)


def _documentation(address: IPAddress) -> bool:
    """TEST-NET ranges count as private to Python; they are not anyone's internal network."""
    return any(
        address in ipaddress.ip_network(n)
        for n in ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "2001:db8::/32")
        if ipaddress.ip_network(n).version == address.version
    )


async def resolve_public(url: str, blocked: Iterable[str], *, required: bool) -> None:
    """Resolve an https URL's host; refuse it if any address it has is not public.

    `required`: a name that does not resolve is refused too (at clone time); when creating
    an app it may not exist yet, and the clone checks again.
    """
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.hostname:
        return
    host = parts.hostname.rstrip(".")
    loop = asyncio.get_running_loop()
    try:
        infos = await asyncio.wait_for(
            loop.getaddrinfo(host, 443, type=socket.SOCK_STREAM), RESOLVE_SECONDS
        )
    except (OSError, TimeoutError, UnicodeError) as exc:
        if required:
            raise RepoNotAllowed(
                "The repository's host name could not be resolved", details={"host": host}
            ) from exc
        return
    addresses = {ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos}
    if any(refused(address, blocked) for address in addresses):
        raise RepoNotAllowed("The repository's address is not public", details={"host": host})


def git_env(url: str) -> dict[str, str]:
    return {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": "/tmp",  # noqa: S108 - the sandbox's own, empty /tmp
        "LANG": "C.UTF-8",
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": LOCAL_GITCONFIG if url.startswith("file://") else "/dev/null",
        "GIT_PROTOCOL_FROM_USER": "0",
        "GIT_ASKPASS": "/bin/false",
        "SSH_ASKPASS": "/bin/false",
    }


def hosted_repo(root: Path, app_id: object) -> Path:
    """The app's own bare repository on Berth, where `git push` stores commits."""
    return root / f"{app_id}.git"


def is_commit_sha(value: str) -> bool:
    return bool(_SHA.match(value))


def clone_command(url: str, branch: str, commit: str | None = None) -> str:
    """The sandbox's shell command: clone into /app, print the commit, drop .git.

    With `commit`, exactly that commit is fetched (by id; the server must allow it, as
    protocol v2 servers, GitHub and Berth's own repositories do) instead of the branch's tip.
    """
    options, trust = _git_options(url)
    if commit is not None:
        if not is_commit_sha(commit):
            raise RepoNotAllowed("Not a commit id")
        fetch = (
            f"git init --quiet . && git {options} fetch --quiet --depth 1 --no-tags "
            f"-- {shlex.quote(url)} {commit} && git {options} checkout --quiet FETCH_HEAD"
        )
        return f"{trust}{fetch} && git rev-parse HEAD && rm -rf .git"
    clone = (
        f"git {options} clone --quiet --depth 1 --single-branch --no-tags "
        f"--branch {shlex.quote(branch)} -- {shlex.quote(url)} ."
    )
    return f"{trust}{clone} && git rev-parse HEAD && rm -rf .git"


def _git_options(url: str) -> tuple[str, str]:
    """git's -c options for a fetch in the sandbox, and the shell prefix a local repository
    needs (every protocol but https, and file for a local one, off; no hooks, no redirects)."""
    config = [
        "protocol.allow=never",
        "protocol.https.allow=always",
        "core.hooksPath=/dev/null",
        "core.fsmonitor=false",
        "credential.helper=",
        "http.followRedirects=false",
        "advice.detachedHead=false",
    ]
    trust = ""
    if url.startswith("file://"):
        config.append("protocol.file.allow=always")
        # the repository is the operator's, mounted read only, owned by a uid the app's user
        # namespace does not map; git's local transport drops -c options, so the exception
        # goes into a global config of the sandbox's own
        trust = f"git config --file {LOCAL_GITCONFIG} safe.directory '*' && "
    return " ".join(f"-c {shlex.quote(c)}" for c in config), trust


def ls_remote_command(url: str, branch: str) -> str:
    """The sandbox's shell command printing `<commit>\trefs/heads/<branch>` (nothing when the
    branch does not exist); nothing is fetched."""
    options, trust = _git_options(url)
    ref = shlex.quote(f"refs/heads/{branch}")
    return f"{trust}git {options} ls-remote --heads -- {shlex.quote(url)} {ref}"


def head_of(output: str, branch: str) -> str | None:
    """The branch's commit in ls-remote's output."""
    for line in output.splitlines():
        sha, _, ref = line.strip().partition("\t")
        if ref == f"refs/heads/{branch}" and _SHA.match(sha):
            return sha
    return None


def commit_of(output: str) -> str | None:
    """The commit the clone printed last (remote messages are prefixed, so never match)."""
    for line in reversed(output.splitlines()):
        if _SHA.match(line.strip()):
            return line.strip()
    return None


def clone_failure(output: str) -> str:
    """What the owner is told about a failed clone: never git's raw network errors."""
    text = output.lower()
    # an exact commit's fetch (clone_command with `commit`) that the server does not have
    if any(m in text for m in ("not our ref", "couldn't find remote ref", "unadvertised object")):
        return "the commit was not found in the repository (a force push may have removed it)"
    if "remote branch" in text and "not found" in text:
        return "the branch was not found in the repository"
    if "could not resolve host" in text:
        return "the repository's host name could not be resolved"
    if "returned error: 30" in text or "redirect" in text:
        return "the repository URL redirects elsewhere: use the URL it redirects to"
    if any(
        marker in text
        for marker in (
            "failed to connect",
            "couldn't connect",
            "connection refused",
            "permission denied",
            "network is unreachable",
            "timed out",
            "connection reset",
        )
    ):
        return "the repository's host could not be reached"
    if "certificate" in text or "ssl" in text or "tls" in text:
        return "the repository's host did not present a certificate this platform trusts"
    if any(
        marker in text
        for marker in ("not found", "authentication", "could not read username", "error: 40")
    ):
        return "the repository was not found, or it is private"
    if "does not appear to be a git repository" in text or "not a git repository" in text:
        return "there is no git repository at that URL"
    return "git could not clone the repository"
