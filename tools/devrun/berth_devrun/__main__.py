"""python -m berth_devrun run | env: the dev runner's command line."""

import argparse
import logging
import shlex
import sys

from .devsecrets import SECRET_KEYS
from .environment import redact_url, resolve
from .errors import RunnerError
from .layout import Layout, find_root
from .postgres import EmbeddedPostgres
from .runner import run


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m berth_devrun", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    run_cmd = commands.add_parser("run", help="run the whole platform (what `make run` does)")
    run_cmd.add_argument(
        "processes", nargs="*", metavar="PROCESS", help="Procfile entries to start (default: all)"
    )
    run_cmd.add_argument(
        "--no-release",
        action="store_true",
        help="skip the release phase (alembic upgrade head, the Procfile's *-release commands)",
    )

    env_cmd = commands.add_parser("env", help="print the resolved environment as KEY=VALUE lines")
    env_cmd.add_argument("--show-secrets", action="store_true", help="include secret values")
    env_cmd.add_argument("--export", action="store_true", help="print shell `export` lines")
    env_cmd.add_argument(
        "--service",
        metavar="NAME",
        help="add what that service's processes get on top (DATABASE_URL of its own role)",
    )
    return parser


def print_env(
    layout: Layout, *, show_secrets: bool, export: bool, service: str | None = None
) -> int:
    pg = EmbeddedPostgres(layout)
    resolved = resolve(layout, pg=pg)
    hidden = []
    values = {**resolved.values, **resolved.dotenv_extra}
    if service:
        values.update(resolved.database_env(service))
    for key, value in values.items():
        if key in SECRET_KEYS and not show_secrets:
            hidden.append(key)
            continue
        if key.endswith("DATABASE_URL") and not show_secrets:
            value = redact_url(value)
        print(f"export {key}={shlex.quote(value)}" if export else f"{key}={value}")
    if hidden:
        print(f"# hidden (pass --show-secrets): {', '.join(hidden)}", file=sys.stderr)
    if resolved.database == "embedded" and not service:
        print("# DATABASE_URL is per service: pass --service NAME", file=sys.stderr)
    if resolved.database == "embedded" and pg.running_port() is None:
        print("# embedded PostgreSQL is not running now (`make run` starts it)", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s devrun | %(levelname)s %(message)s",
        datefmt="%H:%M:%S",
    )
    layout = Layout(find_root())
    try:
        if args.command == "env":
            layout.ensure()
            return print_env(
                layout, show_secrets=args.show_secrets, export=args.export, service=args.service
            )
        return run(layout, args.processes, run_release=not args.no_release)
    except RunnerError as exc:
        logging.getLogger("berth_devrun").error("%s", exc)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
