"""A preview app's slug: `<parent-slug>--<branch-part>`, one DNS label (≤ 63, [a-z0-9-]).

A branch name that already is a clean label part (lower case, [a-z0-9-], no `--`, no hyphen
at either end) and fits is used as it is. Any other name (odd characters, upper case, too
long) becomes its cleaned prefix, `--` and a hash of the exact name: a cleaned name never
holds `--`, so a hashed part never equals a clean one, and two branches never share a slug
(short of a 40-bit hash collision, which the live-slug unique index would still refuse).
User-made slugs cannot contain `--` (validation.py), so no preview takes an app's name.
"""

import hashlib
import re

LABEL_MAX = 63
SEPARATOR = "--"
HASH_CHARS = 10
_CLEAN = re.compile(r"^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$")
_ODD = re.compile(r"[^a-z0-9]+")


def branch_part(branch: str, room: int) -> str:
    """The branch's part of the slug, at most `room` characters."""
    if len(branch) <= room and _CLEAN.match(branch) and SEPARATOR not in branch:
        return branch
    digest = hashlib.sha256(branch.encode()).hexdigest()[:HASH_CHARS]
    keep = room - len(SEPARATOR) - HASH_CHARS
    # every run of other characters (hyphens included) becomes one hyphen
    cleaned = _ODD.sub("-", branch.lower()).strip("-")[:keep].strip("-") or "b"
    return f"{cleaned}{SEPARATOR}{digest}"


def preview_slug(parent_slug: str, branch: str) -> str:
    room = LABEL_MAX - len(parent_slug) - len(SEPARATOR)
    return f"{parent_slug}{SEPARATOR}{branch_part(branch, room)}"
