"""Shapes of user input shared by the schemas: slugs, env names, commands, limits."""

import re
from typing import Annotated

from pydantic import AfterValidator, Field, StringConstraints

SLUG_RE = re.compile(r"^[a-z][a-z0-9-]{1,38}[a-z0-9]$")
ENV_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
BRANCH_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._/-]{0,99}$")
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
# set by the platform in every app's environment
RESERVED_ENV = frozenset({"PORT", "HOME", "PATH", "PWD"})
# Names that steer the dynamic loader, libc or a shell before the app's own code runs: were one
# to reach a process outside the sandbox (bwrap, a platform helper), the tenant would run code
# there. glibc's "unsecure envvars" (sysdeps/generic/unsecvars.h), which it drops itself for
# setuid programs, plus the shell's startup and function-import hooks.
FORBIDDEN_ENV = frozenset(
    {
        "GCONV_PATH", "GETCONF_DIR", "GLIBC_TUNABLES", "HOSTALIASES", "LOCALDOMAIN", "LOCPATH",
        "NIS_PATH", "NLSPATH", "RESOLV_HOST_CONF", "RES_OPTIONS", "TMPDIR", "TZDIR",
        "BASH_ENV", "ENV", "SHELLOPTS", "BASHOPTS", "PS4", "PROMPT_COMMAND", "IFS",
    }
)  # fmt: skip
# LD_PRELOAD, LD_AUDIT, LD_LIBRARY_PATH, LD_DEBUG...; MALLOC_TRACE, MALLOC_ARENA_MAX...;
# bash's exported functions (BASH_FUNC_name%%)
FORBIDDEN_ENV_PREFIXES = ("LD_", "MALLOC_", "BASH_FUNC_")
RESERVED_SLUGS = frozenset(
    {
        "www", "api", "app", "apps", "admin", "auth", "mail", "smtp", "traefik", "berth",
        "static", "status", "dashboard", "gateway", "billing", "deploy", "frontend", "ops",
    }
)  # fmt: skip

MEMORY_MB = (64, 4096)
CPU_MILLIS = (100, 4000)
PIDS_MAX = (16, 4096)


def _slug(value: str) -> str:
    if not SLUG_RE.match(value) or "--" in value:
        raise ValueError(
            "3-40 characters: lower-case letters, digits and single hyphens, "
            "starting with a letter, not ending with a hyphen"
        )
    if value in RESERVED_SLUGS:
        raise ValueError("this name is reserved")
    return value


def env_name_problem(name: str) -> str | None:
    """Why `name` cannot be an app's env var, or None when it can (case does not help)."""
    upper = name.upper()
    if upper in RESERVED_ENV:
        return f"{name} is set by the platform"
    if upper in FORBIDDEN_ENV or upper.startswith(FORBIDDEN_ENV_PREFIXES):
        return f"{name} changes how programs are loaded or started, so it is not allowed"
    return None


def _env_name(value: str) -> str:
    if not ENV_NAME_RE.match(value):
        raise ValueError("letters, digits and underscores, not starting with a digit")
    if problem := env_name_problem(value):
        raise ValueError(problem)
    return value


def branch_problem(value: str) -> str | None:
    """Why `value` is not a branch name Berth builds, or None when it is."""
    if (
        len(value) > 100
        or not BRANCH_RE.fullmatch(value)  # match() lets a trailing newline through
        or ".." in value
        or "//" in value
        or value.endswith((".lock", "/", "."))
        or "@{" in value
    ):
        return "not a valid branch name"
    return None


def _branch(value: str) -> str:
    if problem := branch_problem(value):
        raise ValueError(problem)
    return value


def _no_control(value: str) -> str:
    if CONTROL.search(value):
        raise ValueError("control characters are not allowed")
    return value


def _no_nul(value: str) -> str:
    if "\x00" in value:
        raise ValueError("NUL characters are not allowed")
    return value


Slug = Annotated[str, StringConstraints(min_length=3, max_length=40), AfterValidator(_slug)]
EnvName = Annotated[str, StringConstraints(min_length=1, max_length=128), AfterValidator(_env_name)]
EnvValue = Annotated[str, StringConstraints(max_length=32_768), AfterValidator(_no_nul)]
Branch = Annotated[str, StringConstraints(min_length=1, max_length=100), AfterValidator(_branch)]
Command = Annotated[
    str, StringConstraints(min_length=1, max_length=2000), AfterValidator(_no_control)
]
DisplayName = Annotated[
    str,
    StringConstraints(min_length=1, max_length=80, strip_whitespace=True),
    AfterValidator(_no_control),
]
RepoUrl = Annotated[
    str, StringConstraints(min_length=1, max_length=500), AfterValidator(_no_control)
]
MemoryMb = Annotated[int, Field(ge=MEMORY_MB[0], le=MEMORY_MB[1])]
CpuMillis = Annotated[int, Field(ge=CPU_MILLIS[0], le=CPU_MILLIS[1])]
PidsMax = Annotated[int, Field(ge=PIDS_MAX[0], le=PIDS_MAX[1])]
# automatic deploys: how often an app's remote may be polled (null: never), how long an idle
# preview app lives
POLL_INTERVAL_SECONDS = (60, 86_400)
PREVIEW_IDLE_DAYS = (1, 90)
PollInterval = Annotated[int, Field(ge=POLL_INTERVAL_SECONDS[0], le=POLL_INTERVAL_SECONDS[1])]
PreviewIdleDays = Annotated[int, Field(ge=PREVIEW_IDLE_DAYS[0], le=PREVIEW_IDLE_DAYS[1])]
