"""Playwright (the driver only) on Debian's chromium, headless, for the frontend's browser
tests; screenshots land in BERTH_ARTIFACTS_DIR (default /tmp/berth-artifacts)."""

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-gpu",
]


def chromium_path() -> str:
    found = shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(found).exists():
        pytest.fail(
            "chromium is not installed: run scripts/install-system-deps.sh --browser", pytrace=False
        )
    return found


def artifacts_dir() -> Path:
    path = Path(os.environ.get("BERTH_ARTIFACTS_DIR", "/tmp/berth-artifacts")) / "frontend"
    path.mkdir(parents=True, exist_ok=True)
    return path


class ConsoleWatch:
    """Console errors and uncaught exceptions of a page: a clean panel has none."""

    def __init__(self, page) -> None:
        self.errors: list[str] = []
        page.on(
            "console",
            lambda m: (
                m.type == "error" and self.errors.append(f"{m.text} [{m.location.get('url')}]")
            ),
        )
        page.on("pageerror", lambda exc: self.errors.append(f"uncaught: {exc}"))

    def assert_clean(self) -> None:
        assert self.errors == [], self.errors


@pytest.fixture(scope="module")
def chromium() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()
