"""The shape every service shares (STYLE.md), checked so a new service cannot drift from it.

- import contracts (pyproject's [tool.importlinter]): no service imports another, libs/common
  imports none, service and DAO modules hold no HTTP framework types;
- a service's queries live in its `dao.py` modules; a transaction is committed (`.commit()`, `session.begin()`) only at a process edge (request
  dependency, task wrapper, CLI, outbox relay, advisory-lock connection), each edge named in
  an `# edge: ...` comment on the line or the line above;
- routers come from the guarded factories (signed-in by default, public only when it says so);
- the frontend names a backend's API paths only in its service modules (`service.py`,
  `web/oauth_service.py`): screens, sessions and middleware call those, never a URL.
"""

import ast
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SERVICES = sorted(ROOT.glob("services/*/berth_*"))
COMMON = ROOT / "libs/common/berth_common"


def _calls(attribute: str, packages: list[Path], *, outside_dao: bool) -> list[str]:
    """`file:line` of every `<x>.<attribute>(...)` call in service code not marked as an edge."""
    found = []
    for package in packages:
        for path in sorted(package.rglob("*.py")):
            if outside_dao and path.name == "dao.py":
                continue
            lines = path.read_text().splitlines()
            for node in ast.walk(ast.parse("\n".join(lines), str(path))):
                if not (
                    isinstance(node, ast.Call)
                    and isinstance(node.func, ast.Attribute)
                    and node.func.attr == attribute
                ):
                    continue
                here = lines[node.lineno - 1]
                above = lines[node.lineno - 2] if node.lineno > 1 else ""
                if "# edge:" not in here and "# edge:" not in above:
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    return found


def test_the_import_contracts_hold():
    lint_imports = shutil.which("lint-imports") or str(Path(sys.executable).parent / "lint-imports")
    result = subprocess.run(
        [lint_imports, "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=240
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "broken" in result.stdout and "0 broken" in result.stdout


def test_queries_live_in_dao_modules():
    assert _calls("execute", SERVICES, outside_dao=True) == []


def test_commits_happen_only_at_named_edges():
    owners = [*SERVICES, COMMON]
    assert (
        _calls("commit", owners, outside_dao=False) + _calls("begin", owners, outside_dao=False)
        == []
    )


def test_routers_come_from_the_guarded_factories():
    """`berth_common.routing` (or the frontend's `web/access.py`) makes every router, so each is
    signed-in by default and a public one says so; `ensure_guarded` checks the built app."""
    direct = []
    for package in SERVICES:
        for path in sorted(package.rglob("*.py")):
            if (
                path.relative_to(ROOT).as_posix()
                == "services/frontend/berth_frontend/web/access.py"
            ):
                continue
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "APIRouter":
                    direct.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert direct == []


def test_the_scan_sees_service_code():
    # A guard that scans nothing passes forever: the DAOs do execute queries.
    assert len(_calls("execute", SERVICES, outside_dao=False)) > 50


FRONTEND = ROOT / "services/frontend/berth_frontend"
API_PREFIXES = ("/api/", "/oauth/")


def _api_paths(path: Path) -> list[int]:
    """Lines of the string literals (f-string parts too) in `path` that begin an API path."""
    return [
        node.lineno
        for node in ast.walk(ast.parse(path.read_text(), str(path)))
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and node.value.startswith(API_PREFIXES)
    ]


def test_the_frontend_names_api_paths_only_in_service_modules():
    outside, inside = [], []
    for path in sorted(FRONTEND.rglob("*.py")):
        found = [f"{path.relative_to(ROOT)}:{line}" for line in _api_paths(path)]
        (inside if path.name.endswith("service.py") else outside).extend(found)
    assert outside == []
    # a guard that scans nothing passes forever: the service modules do name the paths
    assert any("oauth_service.py" in hit for hit in inside) and len(inside) > 10
