"""Traefik's dynamic configuration under `make run`.

deploy/traefik/traefik.yml points the file provider at var/traefik/dynamic/ (the apps'
routes come from the deploy web process through Traefik's HTTP provider instead). The
runner copies deploy/traefik/dynamic/* into it before Traefik starts and keeps the copies in
sync while it runs, so an edited route applies without a restart; Traefik renders their
{{ env "..." }} templates itself.
"""

import logging
import os
import threading
from pathlib import Path

from .layout import Layout

log = logging.getLogger("berth_devrun.traefik")

SUFFIXES = (".yml", ".yaml", ".toml")  # the only files Traefik's file provider reads
MANIFEST = ".copied-from-deploy"  # so a file deleted from deploy/ is deleted here too


def source_dir(layout: Layout) -> Path:
    return layout.root / "deploy" / "traefik" / "dynamic"


def _sources(layout: Layout) -> dict[str, Path]:
    directory = source_dir(layout)
    if not directory.is_dir():
        return {}
    return {
        path.name: path
        for path in sorted(directory.iterdir())
        if path.is_file() and path.suffix in SUFFIXES
    }


def sync(layout: Layout) -> list[str]:
    """Copy changed files atomically (Traefik skips the .tmp names); drop removed ones."""
    target = layout.traefik_dynamic
    target.mkdir(parents=True, exist_ok=True)
    manifest = target / MANIFEST
    sources = _sources(layout)
    previous = manifest.read_text().split() if manifest.is_file() else []
    changed = []
    for name in set(previous) - set(sources):
        (target / name).unlink(missing_ok=True)
        changed.append(name)
    for name, source in sources.items():
        data = source.read_bytes()
        destination = target / name
        if destination.is_file() and destination.read_bytes() == data:
            continue
        tmp = target / f".{name}.{os.getpid()}.tmp"
        tmp.write_bytes(data)
        os.replace(tmp, destination)
        changed.append(name)
    manifest.write_text("".join(f"{name}\n" for name in sources))
    return sorted(changed)


def _signature(layout: Layout) -> tuple[tuple[str, int, int], ...]:
    items = []
    for name, path in _sources(layout).items():
        try:
            stat = path.stat()
        except FileNotFoundError:
            continue
        items.append((name, stat.st_mtime_ns, stat.st_size))
    return tuple(items)


class DynamicConfigWatcher(threading.Thread):
    """Polls deploy/traefik/dynamic/ once a second and re-syncs on a change."""

    def __init__(self, layout: Layout, interval: float = 1.0) -> None:
        super().__init__(name="traefik-dynamic-sync", daemon=True)
        self.layout = layout
        self.interval = interval
        self.stopped = threading.Event()

    def run(self) -> None:
        seen = _signature(self.layout)
        while not self.stopped.wait(self.interval):
            current = _signature(self.layout)
            if current == seen:
                continue
            seen = current
            try:
                changed = sync(self.layout)
            except OSError as exc:
                log.warning("could not sync Traefik dynamic config: %s", exc)
                continue
            if changed:
                log.info("Traefik dynamic config updated: %s", ", ".join(changed))

    def stop(self) -> None:
        self.stopped.set()
