"""A browser-like HTTP client for the frontend through Traefik: cookies, CSRF tokens from the
pages, htmx headers. For the frontend's HTTP tests (the browser tests drive chromium)."""

import re
from urllib.parse import urlsplit

import httpx

CSRF_INPUT = re.compile(r'name="csrf_token" value="([0-9a-f]{64})"')
CSRF_HEADER = re.compile(r'"X-CSRF-Token": "([0-9a-f]{64})"')


class WebClient:
    def __init__(self, base_url: str):
        self.base_url = base_url
        self.http = httpx.Client(
            base_url=base_url,
            timeout=30,
            follow_redirects=False,
            event_hooks={"request": [self._as_a_browser]},
        )
        self._csrf: tuple[str | None, str] | None = None

    def _as_a_browser(self, request: httpx.Request) -> None:
        # browsers name the page's origin on every POST/PUT/PATCH/DELETE (forms and fetch)
        if request.method not in ("GET", "HEAD") and "origin" not in request.headers:
            request.headers["Origin"] = self.base_url

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> "WebClient":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def get(self, path: str, **kwargs) -> httpx.Response:
        return self.http.get(path, **kwargs)

    def htmx_get(self, path: str, page: str = "/panel", target: str = "main") -> httpx.Response:
        return self.http.get(path, headers=self.htmx_headers(page, target))

    def htmx_headers(self, page: str = "/panel", target: str = "main") -> dict[str, str]:
        return {
            "HX-Request": "true",
            "HX-Current-URL": f"{self.base_url}{page}",
            "HX-Target": target,
        }

    def csrf_token(self, page: str = "/login") -> str:
        """The token the pages carry (one per browser: it follows the CSRF cookie)."""
        nonce = self.http.cookies.get("berth_csrf")
        if nonce and self._csrf and self._csrf[0] == nonce:
            return self._csrf[1]
        html = self.http.get(page).text
        found = CSRF_INPUT.search(html) or CSRF_HEADER.search(html)
        assert found, f"no CSRF token on {page}"
        self._csrf = (self.http.cookies.get("berth_csrf"), found.group(1))
        return found.group(1)

    def post_form(self, path: str, data: dict, page: str = "/login", **kwargs) -> httpx.Response:
        return self.http.post(path, data={**data, "csrf_token": self.csrf_token(page)}, **kwargs)

    def htmx_post(
        self, path: str, data: dict | None = None, page: str = "/panel", target: str = "main"
    ) -> httpx.Response:
        headers = {**self.htmx_headers(page, target), "X-CSRF-Token": self.csrf_token(page)}
        return self.http.post(path, data=data or {}, headers=headers)

    def login(self, email: str, password: str, next_page: str = "") -> httpx.Response:
        response = self.post_form(
            "/login", {"email": email, "password": password, "next": next_page}
        )
        assert response.status_code == 303, response.text[:2000]
        return response

    def cookie(self, name: str) -> str | None:
        return self.http.cookies.get(name)


def location_path(response: httpx.Response) -> str:
    parts = urlsplit(response.headers["location"])
    return f"{parts.path}?{parts.query}" if parts.query else parts.path


def static_site_repo(directory) -> str:
    """A git repository with a one-page static site; its file:// URL (deploy allows local
    repositories in e2e runs)."""
    import subprocess
    from pathlib import Path

    repo = Path(directory)
    (repo / "public").mkdir(parents=True)
    (repo / "public" / "index.html").write_text("<h1>Hello from Berth</h1>\n")
    env = {
        "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.test",
        "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.test",
        "HOME": str(repo), "PATH": "/usr/bin:/bin",
    }  # fmt: skip
    for cmd in (
        ["git", "init", "-q", "-b", "main"],
        ["git", "add", "."],
        ["git", "commit", "-q", "-m", "site"],
    ):
        subprocess.run(cmd, cwd=repo, env=env, check=True)
    return f"file://{repo}"
