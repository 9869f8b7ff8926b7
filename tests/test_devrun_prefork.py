"""`make run`'s Python entries as forks of the runner's preloaded interpreter
(berth_devrun/prefork.py): which commands fork, what the fork gets (its argv, environment,
working directory, a session of its own, output on honcho's pipe, its exit code), and that the
runner's exit hooks never run in it."""

import atexit
import os
import sys
import textwrap

import pytest

from berth_devrun import prefork


@pytest.mark.parametrize(
    ("cmd", "forks"),
    [
        ("uvicorn berth_gateway.main:create_app --factory --port 8100", True),
        ("celery -A berth_auth.worker worker -Q auth --concurrency 1 -n auth@%h -B", True),
        ("celery -A berth_auth.worker flower --url_prefix=ops/flower/auth", True),
        ("python -m berth_deploy.supervisor", True),
        ("traefik --configFile=deploy/traefik/traefik.yml", False),
        ("python app.py", False),
        ("FOO=1 uvicorn app:app", False),
        ("uvicorn app:app | tee log", False),
        ("celery -A x worker && echo done", False),
        ("python -m mod $HOME", False),
    ],
)
def test_only_plain_python_entries_fork(cmd, forks):
    assert (prefork.entry_of(cmd) is not None) is forks


def test_a_forked_entry_runs_with_its_own_argv_env_cwd_and_session(tmp_path):
    module = tmp_path / "probe_entry.py"
    module.write_text(
        textwrap.dedent(
            """
            import os, sys
            print("argv", sys.argv[1:])
            print("env", os.environ.get("PROBE"), "HOME" in os.environ)
            print("cwd", os.getcwd())
            print("session", os.getsid(0) == os.getpid())
            sys.stderr.write("to stderr\\n")
            sys.exit(7)
            """
        )
    )
    ran_in_child = tmp_path / "atexit-ran"
    hook = lambda: ran_in_child.write_text("yes")  # noqa: E731
    atexit.register(hook)
    env = {"PROBE": "42", "PYTHONPATH": str(tmp_path), "PATH": os.environ["PATH"]}
    sys.path.insert(0, str(tmp_path))
    try:
        child = prefork._child("python -m probe_entry one two", env=env, cwd=str(tmp_path))
        assert isinstance(child, prefork.ForkedChild)
        output = child.stdout.read().decode()
        assert child.wait() == 7
    finally:
        atexit.unregister(hook)
        sys.path.remove(str(tmp_path))
    assert "argv ['one', 'two']" in output
    assert "env 42 False" in output  # exactly the entry's environment, not the runner's
    assert f"cwd {tmp_path}" in output
    assert "session True" in output  # honcho signals the process group
    assert "to stderr" in output
    assert not ran_in_child.exists()  # the runner's exit hooks stay the runner's


def test_a_crashing_entry_reports_its_traceback_and_a_failure(tmp_path):
    (tmp_path / "crash_entry.py").write_text("raise RuntimeError('boom')\n")
    sys.path.insert(0, str(tmp_path))
    try:
        child = prefork._child("python -m crash_entry", env={"PATH": os.environ["PATH"]})
        output = child.stdout.read().decode()
        assert child.wait() == 1
    finally:
        sys.path.remove(str(tmp_path))
    assert "RuntimeError: boom" in output


def test_a_shell_command_still_runs_in_a_shell(tmp_path):
    child = prefork._child("echo shell-$((1 + 1))", env={"PATH": os.environ["PATH"]})
    assert child.stdout.read().decode().strip() == "shell-2"
    assert child.wait() == 0
