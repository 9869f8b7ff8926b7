"""Where the dev runner keeps its state: the repository root and the var/ tree."""

import os
from dataclasses import dataclass
from pathlib import Path


def find_root() -> Path:
    """The repository root: $BERTH_ROOT, else the nearest parent holding the Procfile."""
    if explicit := os.environ.get("BERTH_ROOT"):
        return Path(explicit).resolve()
    for candidate in (Path.cwd(), *Path.cwd().parents):
        if (candidate / "Procfile").is_file() and (candidate / "pyproject.toml").is_file():
            return candidate
    return Path(__file__).resolve().parents[3]  # tools/devrun/berth_devrun/layout.py


@dataclass(frozen=True)
class Layout:
    root: Path

    @property
    def var(self) -> Path:
        return self.root / "var"

    @property
    def pgdata(self) -> Path:
        return self.var / "pgdata"

    @property
    def pg_port_file(self) -> Path:
        return self.var / "pg.port"

    @property
    def log_dir(self) -> Path:
        return self.var / "log"

    @property
    def mail_dir(self) -> Path:
        return self.var / "mail"

    @property
    def broker_dir(self) -> Path:
        return self.var / "broker"

    @property
    def traefik_dynamic(self) -> Path:
        return self.var / "traefik" / "dynamic"

    @property
    def secrets_file(self) -> Path:
        return self.var / "dev-secrets.env"

    @property
    def lock_file(self) -> Path:
        return self.var / "devrun.lock"

    @property
    def procfile(self) -> Path:
        return self.root / "Procfile"

    def ensure(self) -> None:
        for directory in (self.var, self.log_dir, self.mail_dir, self.traefik_dynamic):
            directory.mkdir(parents=True, exist_ok=True)

    def show(self, path: Path | str) -> str:
        """A path relative to the root when it is inside it (for banners and logs)."""
        path = Path(path)
        try:
            return str(path.relative_to(self.root))
        except ValueError:
            return str(path)
