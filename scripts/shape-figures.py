"""Figures on how closely the services keep one shape (issue 10), for closing notes.

    python scripts/shape-figures.py [--longest N]

Prints, per service, the query (`.execute(`) calls outside `dao.py` modules, and the longest
functions outside migrations and benches. When a `duplicates` command is on PATH (the team's
tool library has one), also the pairs of 6+ shared lines between different services/libs,
leaving out migrations and Dockerfiles.
"""

import argparse
import ast
import re
import shutil
import subprocess
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SKIP = ("alembic/versions", "/.venv/", "node_modules", "bench/", "/var/")


def _python_files():
    for path in sorted(ROOT.rglob("*.py")):
        if not any(part in str(path) for part in SKIP):
            yield path


def _area(path: str) -> str:
    parts = path.split("/")
    return parts[1] if parts[0] == "services" else "/".join(parts[:2])


def _is_code(place: str) -> bool:
    return not place.startswith(("tests/", "bench/")) and "/tests/" not in place


def queries_outside_dao() -> Counter[str]:
    counts: Counter[str] = Counter()
    for package in sorted(ROOT.glob("services/*/berth_*")):
        counts[package.parent.name] += 0
        for path in package.rglob("*.py"):
            if path.name == "dao.py":
                continue
            for node in ast.walk(ast.parse(path.read_text())):
                if (
                    isinstance(node, ast.Call)
                    and isinstance(node.func, ast.Attribute)
                    and node.func.attr == "execute"
                ):
                    counts[package.parent.name] += 1
    return counts


def longest_functions(n: int) -> list[tuple[int, str, str]]:
    found = []
    for path in _python_files():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = node.end_lineno - node.lineno + 1
                found.append((length, str(path.relative_to(ROOT)), node.name))
    return sorted(found, reverse=True)[:n]


def cross_area_duplicates() -> list[str] | None:
    tool = shutil.which("duplicates")
    if tool is None:
        return None
    out = subprocess.run(  # noqa: S603 - a fixed argv, the tool found on PATH
        [tool, "--most", "200", "--seconds", "120"], cwd=ROOT, capture_output=True, text=True
    ).stdout
    rows = []
    for line in out.splitlines():
        match = re.match(r"D\d+ (\S+):\S+ ~ (\S+):\S+", line)
        if not match:
            continue
        a, b = match.groups()
        if any("alembic/versions" in p or "Dockerfile" in p for p in (a, b)):
            continue
        if _area(a) != _area(b):
            rows.append(line)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--longest", type=int, default=5)
    args = parser.parse_args()
    print("queries (.execute calls) outside dao.py, per service:")
    for service, count in sorted(queries_outside_dao().items()):
        print(f"  {service:10} {count}")
    print(f"longest {args.longest} functions (lines) outside migrations and benches:")
    for length, path, name in longest_functions(args.longest):
        print(f"  {length:4}  {path}::{name}")
    rows = cross_area_duplicates()
    if rows is None:
        print("cross-service duplicated blocks: `duplicates` not on PATH, not counted")
        return
    code = [r for r in rows if all(_is_code(place) for place in r.split()[1:4:2])]
    print(
        f"cross-service pairs of 6+ shared lines: {len(rows)}"
        f" ({len(code)} between service and library code, not tests or benches)"
    )
    for row in code:
        print(f"  {row}")


if __name__ == "__main__":
    main()
