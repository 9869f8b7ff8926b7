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


def _env_name(value: str) -> str:
    if not ENV_NAME_RE.match(value):
        raise ValueError("letters, digits and underscores, not starting with a digit")
    if value.upper() in RESERVED_ENV:
        raise ValueError(f"{value} is set by the platform")
    return value


def _branch(value: str) -> str:
    if (
        not BRANCH_RE.match(value)
        or ".." in value
        or "//" in value
        or value.endswith((".lock", "/", "."))
        or "@{" in value
    ):
        raise ValueError("not a valid branch name")
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
