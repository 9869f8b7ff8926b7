"""The template catalog in use (static site, worker bot, AI agent, and a template an admin
adds), live logs over SSE through Traefik with resume, and the admin's view of every app.
(n8n is in the catalog but not deployed here: installing it from npm takes minutes.)"""

import json
import uuid

import httpx
import pytest
from deploy_e2e import (
    API,
    deployed,
    get_app,
    logs,
    request,
    via_traefik,
    wait_operation,
)
from deploy_testkit import make_repo, wait_for, web_app_files

from berth_testing.oauth import bearer

BOT = "import itertools, time\nfor n in itertools.count():\n    print(f'tick {n}', flush=True)\n    time.sleep(0.2)\n"
AGENT = """
import json, os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

class Agent(BaseHTTPRequestHandler):
    def do_POST(self):
        request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        body = json.dumps({"reply": "echo: " + request["message"]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), Agent).serve_forever()
"""


pytestmark = pytest.mark.usefixtures("deploy_node")


@pytest.fixture(scope="module")
def frank(signed_in):
    return signed_in()


def test_the_catalog_lists_the_templates_with_their_plans(edge, frank):
    r = edge.get(f"{API}/templates", headers=frank.headers)
    assert r.status_code == 200
    plans = {t["key"]: t["plan_key"] for t in r.json()}
    expected = {
        "python-web": "web-small",
        "static-site": "static-small",
        "worker": "worker-small",
        "ai-agent": "agent-small",
        "n8n": "n8n-small",
    }
    assert {key: plans.get(key) for key in expected} == expected
    n8n = edge.get(f"{API}/templates/n8n", headers=frank.headers).json()
    assert n8n["needs_repo"] is False and n8n["rollout"] == "recreate"


def test_the_api_is_documented_for_other_teams(edge):
    spec = edge.get("/api/deploy/openapi.json")
    assert spec.status_code == 200
    paths = spec.json()["paths"]
    assert "/api/deploy/v1/apps/{app_id}/deployments" in paths
    assert "/api/deploy/v1/apps/{app_id}/logs/stream" in paths
    assert edge.get("/api/deploy/docs").status_code == 200


def test_static_site_is_served_without_its_git_history(edge, platform, frank, tmp_path):
    repo = make_repo(tmp_path / "site", {"index.html": "<h1>static ok</h1>\n"})
    app = deployed(edge, platform, frank, f"file://{repo}", template="static-site")
    assert "<h1>static ok</h1>" in via_traefik(platform, app["slug"]).text
    assert via_traefik(platform, app["slug"], "/.git/HEAD").status_code == 404


def test_worker_runs_without_port_or_route(edge, platform, frank, tmp_path):
    repo = make_repo(tmp_path / "bot", {"Procfile": "worker: python bot.py\n", "bot.py": BOT})
    app = deployed(edge, platform, frank, f"file://{repo}", template="worker")
    assert app["url"] is None
    assert app["instances"][0]["port"] is None
    assert not (platform.dynamic_dir / f"app-{app['slug']}.yml").exists()
    wait_for(
        lambda: any(line.startswith("tick 5") for line in logs(edge, frank, app["id"], "run")),
        30,
        "the bot's output",
    )
    restarted = wait_operation(
        edge, frank, app["id"], request(edge, frank, app["id"], "restart")["id"]
    )
    assert restarted["status"] == "succeeded"
    assert [i["status"] for i in get_app(edge, frank, app["id"])["instances"][:2]] == [
        "running",
        "stopped",
    ]


def test_ai_agent_answers_the_chat_contract(edge, platform, frank, tmp_path):
    repo = make_repo(tmp_path / "agent", {"app.py": AGENT})
    app = deployed(
        edge,
        platform,
        frank,
        f"file://{repo}",
        template="ai-agent",
        env=[
            {"name": "LLM_BASE_URL", "value": "https://llm.example"},
            {"name": "LLM_API_KEY", "value": "sk-not-real-123", "secret": True},
        ],
    )
    r = httpx.post(
        platform.public_url + "/chat",
        json={"message": "hi", "conversation_id": "c1"},
        headers={"Host": f"{app['slug']}.apps.localhost"},
    )
    assert r.status_code == 200
    assert r.json() == {"reply": "echo: hi"}


def sse_iter(response: httpx.Response):
    current: dict = {}
    for line in response.iter_lines():
        if line == "":
            if current:
                yield current
            current = {}
        elif not line.startswith(":"):
            field, _, value = line.partition(": ")
            current[field] = value


def sse_events(response: httpx.Response) -> list[dict]:
    events = []
    for event in sse_iter(response):
        events.append(event)
        if event.get("event") == "end":
            break
    return events


def test_logs_stream_over_sse_through_traefik_and_resume(edge, platform, frank, tmp_path):
    repo = make_repo(tmp_path / "repo", web_app_files("v1"))
    app = deployed(edge, platform, frank, f"file://{repo}")
    url = f"{platform.public_url}{API}/apps/{app['id']}/logs/stream"
    with httpx.Client(timeout=30) as client:
        with client.stream("GET", url, params={"kind": "build"}, headers=frank.headers) as r:
            assert r.status_code == 200
            assert r.headers["content-type"].startswith("text/event-stream")
            events = sse_events(r)
        lines = [e for e in events if "id" in e]
        assert events[-1]["event"] == "end"
        assert [e["data"] for e in lines] == logs(edge, frank, app["id"], "build")
        offsets = [int(e["id"]) for e in lines]
        assert offsets == sorted(offsets) and len(offsets) >= 4

        resume = {**frank.headers, "Last-Event-ID": lines[1]["id"]}
        with client.stream("GET", url, params={"kind": "build"}, headers=resume) as r:
            resumed = [e for e in sse_events(r) if "id" in e]
        assert resumed == lines[2:]

        # the run log is live: a line the app prints now arrives over the open stream
        with client.stream("GET", url, params={"kind": "run"}, headers=frank.headers) as r:
            via_traefik(platform, app["slug"], "/say", params={"m": "live-line-42"})
            assert any(event.get("data") == "live-line-42" for event in sse_iter(r))


def test_admin_sees_and_acts_on_every_app(edge, platform, frank, admin_token, tmp_path):
    admin = bearer(admin_token)
    repo = make_repo(tmp_path / "repo", web_app_files("v1"))
    app = deployed(edge, platform, frank, f"file://{repo}")

    assert edge.get(f"{API}/admin/apps", headers=frank.headers).status_code == 403
    listed = edge.get(f"{API}/admin/apps", params={"owner_id": frank.id}, headers=admin).json()
    assert app["id"] in {a["id"] for a in listed["items"]}
    assert edge.get(f"{API}/admin/apps/{app['id']}", headers=admin).json()["slug"] == app["slug"]
    admin_logs = edge.get(f"{API}/admin/apps/{app['id']}/logs", headers=admin)
    assert admin_logs.status_code == 200 and admin_logs.json()["lines"]

    r = edge.post(
        f"{API}/admin/apps/{app['id']}/suspend", json={"reason": "abuse report"}, headers=admin
    )
    assert r.status_code == 202
    wait_for(lambda: get_app(edge, frank, app["id"])["status"] == "suspended", 60, "suspension")
    detail = get_app(edge, frank, app["id"])
    assert (detail["suspended_by"], detail["status_reason"]) == ("admin", "abuse report")
    assert edge.post(f"{API}/apps/{app['id']}/start", headers=frank.headers).status_code == 409
    assert not via_traefik(platform, app["slug"]).text.startswith("hello")

    r = edge.post(f"{API}/admin/apps/{app['id']}/unsuspend", headers=admin)
    assert r.status_code == 202
    assert wait_operation(edge, frank, app["id"], r.json()["id"])["status"] == "succeeded"
    assert via_traefik(platform, app["slug"]).text == "hello v1"


def test_admin_extends_the_catalog_and_people_deploy_from_it(
    edge, platform, frank, admin_token, tmp_path
):
    admin = bearer(admin_token)
    key = f"tiny-{uuid.uuid4().hex[:6]}"
    template = {
        "key": key,
        "name": "Tiny web",
        "process_type": "web",
        "build_steps": [],
        "run_command": "python3 server.py",
        "health": {"type": "http", "path": "/", "timeout_seconds": 30},
        "rollout": "zero_downtime",
        "default_memory_mb": 128,
        "default_cpu_millis": 250,
        "default_pids_max": 32,
        "plan_key": "web-small",
        "env": {"GREETING": "from the template"},
    }
    assert (
        edge.post(f"{API}/admin/templates", json=template, headers=frank.headers).status_code == 403
    )
    r = edge.post(f"{API}/admin/templates", json=template, headers=admin)
    assert r.status_code == 201, r.text
    # a worker has no port to check over HTTP
    broken = {k: v for k, v in template.items() if k != "key"} | {"process_type": "worker"}
    assert edge.put(f"{API}/admin/templates/{key}", json=broken, headers=admin).status_code == 422

    repo = make_repo(tmp_path / "repo", {"server.py": web_app_files("v9")["app.py"]})
    app = deployed(edge, platform, frank, f"file://{repo}", template=key)
    assert via_traefik(platform, app["slug"]).text == "hello v9 from the template"
    assert app["limits"] == {"memory_mb": 128, "cpu_millis": 250, "pids_max": 32}
    assert json.loads(edge.get(f"{API}/templates/{key}", headers=frank.headers).text)["key"] == key
