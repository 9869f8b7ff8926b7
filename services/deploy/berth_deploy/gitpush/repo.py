"""The apps' own bare repositories on Berth and how git runs on them.

Every setting that matters is given to git by the platform on each request (environment
config, which outranks the repository's own), so nothing in a repository decides anything:
hooks come from the platform's hooks directory (core.hooksPath), never from the repository,
and a push only ever writes objects and refs under refs/heads/.
"""

import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

from berth_deploy.config import DeploySettings
from berth_deploy.sandbox.git import hosted_repo

HOOKS = ("pre-receive", "post-receive")
HOOK_PROGRAM = Path(__file__).with_name("hook.py")
GIT_PATH = "/usr/local/bin:/usr/bin:/bin"


def hooks_dir(settings: DeploySettings) -> Path:
    """Next to the repositories (one volume for the web process to write), never one of them:
    no request path names it (repositories are `<app id>.git`)."""
    return settings.hosted_repos_dir / ".hooks"


def install_hooks(settings: DeploySettings) -> Path:
    """The platform's hooks (each runs hook.py with this interpreter, isolated), read-only."""
    directory = hooks_dir(settings)
    directory.mkdir(parents=True, exist_ok=True)
    directory.chmod(0o755)  # read-only between starts
    for name in HOOKS:
        script = (
            "#!/bin/sh\n"
            f"exec {shlex.quote(sys.executable)} -I {shlex.quote(str(HOOK_PROGRAM))} {name}\n"
        )
        path = directory / name
        if not path.exists() or path.read_text() != script:
            tmp = directory / f".{name}.new"
            tmp.unlink(missing_ok=True)
            tmp.write_text(script)
            tmp.chmod(0o555)
            os.replace(tmp, path)
    directory.chmod(0o555)
    return directory


def ensure_repo(settings: DeploySettings, app_id: object) -> Path:
    """The app's bare repository, made on first use (no hooks of its own)."""
    path = hosted_repo(settings.hosted_repos_dir, app_id)
    if (path / "HEAD").is_file():
        return path
    settings.hosted_repos_dir.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.new")
    subprocess.run(  # noqa: S603 - fixed argv
        ["git", "init", "--quiet", "--bare", "--template=", str(tmp)],  # noqa: S607
        env=base_env(settings),
        check=True,
        capture_output=True,
        timeout=30,
    )
    try:
        os.rename(tmp, path)  # another request made it meanwhile: theirs stands
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)
    return path


def config_pairs(settings: DeploySettings, allow_force_push: bool) -> list[tuple[str, str]]:
    """git's settings for a request on an app's repository."""
    return [
        ("core.hooksPath", str(hooks_dir(settings))),
        ("http.receivepack", "true"),
        ("http.uploadpack", "true"),
        # builds fetch one exact commit by its id
        ("uploadpack.allowAnySHA1InWant", "true"),
        ("receive.denyNonFastForwards", "false" if allow_force_push else "true"),
        # deleting a branch removes its preview; the tracked branch is kept by pre-receive
        ("receive.denyDeletes", "false"),
        ("receive.maxInputSize", str(settings.push_max_bytes)),
        ("receive.fsckObjects", "true"),
        ("receive.advertisePushOptions", "false"),
        ("core.logAllRefUpdates", "false"),
    ]


def base_env(settings: DeploySettings) -> dict[str, str]:
    """No system, global or user config reaches git; no prompts."""
    return {
        "PATH": GIT_PATH,
        "HOME": str(settings.hosted_repos_dir),
        "LANG": "C.UTF-8",
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": "/dev/null",
        "GIT_TERMINAL_PROMPT": "0",
    }


def git_env(settings: DeploySettings, allow_force_push: bool) -> dict[str, str]:
    env = base_env(settings)
    pairs = config_pairs(settings, allow_force_push)
    env["GIT_CONFIG_COUNT"] = str(len(pairs))
    for i, (key, value) in enumerate(pairs):
        env[f"GIT_CONFIG_KEY_{i}"] = key
        env[f"GIT_CONFIG_VALUE_{i}"] = value
    return env


def repo_bytes(path: Path) -> int:
    """What the repository's objects take on disk."""
    total = 0
    for root, _, files in os.walk(path / "objects"):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except FileNotFoundError:
                pass
    return total
