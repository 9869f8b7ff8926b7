"""Test helpers of the deploy service: tiny apps in local git repositories, shared by the
in-process tests and the end-to-end tests (tests/e2e/test_deploy_*.py) and benchmarks."""

import os
import subprocess
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

GIT_ENV = {
    "GIT_AUTHOR_NAME": "Berth Tests",
    "GIT_AUTHOR_EMAIL": "tests@berth.localhost",
    "GIT_COMMITTER_NAME": "Berth Tests",
    "GIT_COMMITTER_EMAIL": "tests@berth.localhost",
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": os.devnull,
    "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
}

# A web app with no dependencies: stdlib only, answers on $PORT.
#   /         "hello <VERSION> <GREETING>"
#   /env      the names of its environment variables (JSON)
#   /read?p=  whether it can list or read a path (JSON): the sandbox proofs
#   /say?m=   prints m to stdout (the run log)
#   /connect?host=&port=  whether it can open a TCP connection there (JSON)
#   /file?p=  a file's text (e.g. /proc/net/tcp), or null
#   /bind?host=&port=  whether it can listen there (it keeps listening: JSON)
#   /run?c=   runs a command (argv as JSON) in the sandbox: its output
#   /exit     exits with code 1 (once: the supervisor restarts it)
#   /crash    exits with code 1, and so does every later start (a crash loop)
WEB_APP = textwrap.dedent(
    """
    import json, os, socket, subprocess, sys
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    from urllib.parse import parse_qs, urlparse

    VERSION = "{version}"
    CRASH_MARK = os.path.join(os.environ["HOME"], "crash-on-start")
    if os.path.exists(CRASH_MARK):
        print("crashing on start", flush=True)
        sys.exit(2)

    def can_read(path):
        try:
            if os.path.isdir(path):
                os.listdir(path)
            else:
                with open(path, "rb") as f:
                    f.read(1)
            return True
        except OSError:
            return False

    LISTENING = []

    def read_text(path):
        try:
            with open(path) as f:
                return f.read()
        except OSError:
            return None

    def bind(host, port):
        try:
            sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
            sock.bind((host, port))
            sock.listen()
            LISTENING.append(sock)
            return {{"bound": True}}
        except OSError as exc:
            return {{"bound": False, "error": str(exc)}}

    def run(argv):
        done = subprocess.run(argv, capture_output=True, text=True, timeout=20)
        return {{"code": done.returncode, "out": done.stdout, "err": done.stderr}}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            url = urlparse(self.path)
            query = parse_qs(url.query)
            if url.path == "/env":
                body = json.dumps(sorted(os.environ)).encode()
            elif url.path == "/read":
                p = query["p"][0]
                body = json.dumps({{"exists": os.path.exists(p), "readable": can_read(p),
                                    "uid": os.getuid()}}).encode()
            elif url.path == "/connect":
                try:
                    socket.create_connection((query["host"][0], int(query["port"][0])), 2).close()
                    body = json.dumps({{"connected": True}}).encode()
                except OSError as exc:
                    body = json.dumps({{"connected": False, "error": str(exc)}}).encode()
            elif url.path == "/file":
                body = json.dumps(read_text(query["p"][0])).encode()
            elif url.path == "/bind":
                body = json.dumps(bind(query["host"][0], int(query["port"][0]))).encode()
            elif url.path == "/run":
                body = json.dumps(run(json.loads(query["c"][0]))).encode()
            elif url.path == "/say":
                print(query["m"][0], flush=True)
                body = b"said"
            elif url.path in ("/exit", "/crash"):
                if url.path == "/crash":
                    open(CRASH_MARK, "w").close()
                print(f"exiting on request ({{url.path}})", flush=True)
                os._exit(1)
            else:
                body = f"hello {{VERSION}} {{os.environ.get('GREETING', '')}}".strip().encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    print(f"app {{VERSION}} listening on {{os.environ['PORT']}}", flush=True)
    server = ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler)
    server.daemon_threads = True
    server.serve_forever()
    """
)

CRASHING_APP = 'import sys\nprint("starting... and failing", flush=True)\nsys.exit(3)\n'


def web_app_files(version: str = "v1", **extra: str) -> dict[str, str]:
    return {"app.py": WEB_APP.format(version=version), **extra}


def git(repo: Path, *args: str) -> str:
    result = subprocess.run(
        ["git", "-C", str(repo), *args],
        env=GIT_ENV,
        check=True,
        capture_output=True,
        text=True,
    )
    return result.stdout.strip()


def commit(repo: Path, files: dict[str, str], message: str = "change") -> str:
    for name, content in files.items():
        path = repo / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "HEAD")


def make_repo(root: Path, files: dict[str, str], branch: str = "main") -> Path:
    root.mkdir(parents=True, exist_ok=True)
    subprocess.run(["git", "init", "-q", "-b", branch, str(root)], env=GIT_ENV, check=True)
    commit(root, files, "first")
    return root


def wait_for(check: Callable[[], object], timeout: float = 60.0, what: str = "condition"):
    """Poll until check() returns something truthy; that value, or TimeoutError."""
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(0.1)
    raise TimeoutError(f"{what} not reached within {timeout}s (last: {last!r})")
