"""Reading a pushed commit's author name and subject from the app's repository on Berth."""

import asyncio
from pathlib import Path

from berth_deploy.gitpush.repo import GIT_PATH

READ_SECONDS = 10.0


async def describe(repo: Path, sha: str) -> tuple[str | None, str | None]:
    """(author name, subject) of the commit; never the author's email."""
    proc = await asyncio.create_subprocess_exec(
        "git",
        "--git-dir",
        str(repo),
        "log",
        "-1",
        "--no-show-signature",
        "--format=%an%x00%s",
        sha,
        "--",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
        env={"PATH": GIT_PATH, "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": "/dev/null"},
    )
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), READ_SECONDS)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        return None, None
    if proc.returncode != 0:
        return None, None
    author, _, subject = out.decode(errors="replace").strip().partition("\x00")
    return author or None, subject or None
