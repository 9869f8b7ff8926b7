"""Container apps: an OCI image from the run's own registry (docker-registry on loopback),
pulled by digest, or a Dockerfile in a git repository built on the node (buildah, rootless, in
the app sandbox); run by rootless crun inside the same sandbox as apps, served through Traefik.

A redeploy under continuous requests fails none of them and a rollback runs the old digest;
from inside the container every platform port on loopback is refused and private and
link-local networks are `prohibit` routes; a registry off the allowlist is a 422; a digest
the registry does not have, or a blob tampered with in the registry, fails the deploy with a
reason; another person sees nothing of the container.
"""

import ipaddress
import json
import os
import socket
import subprocess
import uuid

import httpx
import pytest
from deploy_e2e import (
    API,
    Hammer,
    create_app,
    get_app,
    logs,
    request,
    via_traefik,
    wait_operation,
)
from deploy_testkit import commit, make_repo, wait_for

from berth_testing.registry import busybox_web_image

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="containers need a root deploy worker"),
    pytest.mark.usefixtures("deploy_node"),
]


def host_addresses() -> list[str]:
    out = subprocess.run(
        ["ip", "-j", "-4", "addr", "show"], capture_output=True, text=True, check=True
    ).stdout
    return [
        a["local"]
        for link in json.loads(out)
        for a in link.get("addr_info", [])
        if not ipaddress.ip_address(a["local"]).is_loopback
    ]


def host_connects(host: str, port: int) -> bool:
    try:
        socket.create_connection((host, port), 2).close()
        return True
    except OSError:
        return False


@pytest.fixture(scope="module")
def ada(signed_in):
    return signed_in()


@pytest.fixture(scope="module")
def eve(signed_in):
    return signed_in()


def container(edge, person, image: str, **fields) -> dict:
    return create_app(edge, person, None, template="container", image=image, **fields)


def deploy(edge, person, app: dict) -> dict:
    return wait_operation(edge, person, app["id"], request(edge, person, app["id"], "deploy")["id"])


@pytest.fixture(scope="module")
def web(edge_module, ada, local_registry):
    """A container app deployed from <registry>/web:latest (v1), answering through Traefik."""
    repo = f"web-{uuid.uuid4().hex[:6]}"
    digest = local_registry.push(f"{repo}:latest", busybox_web_image("hello v1"))
    app = container(edge_module, ada, f"{local_registry.host}/{repo}:latest")
    done = deploy(edge_module, ada, app)
    assert done["status"] == "succeeded", (done, logs(edge_module, ada, app["id"]))
    return {"app": get_app(edge_module, ada, app["id"]), "repo": repo, "digest": digest}


@pytest.fixture(scope="module")
def edge_module(platform):
    with httpx.Client(base_url=platform.public_url, timeout=20) as client:
        yield client


def probe(platform, app: dict, *args: str) -> str:
    r = via_traefik(platform, app["slug"], "/cgi-bin/probe?" + "&".join(args), timeout=30)
    assert r.status_code == 200, r.text
    return r.text


def test_an_image_is_served_by_its_digest_and_redeploys_and_rolls_back_without_a_failure(
    edge, platform, ada, web, local_registry
):
    app = web["app"]
    assert via_traefik(platform, app["slug"]).text == "hello v1"
    assert app["current_release"]["image_digest"] == web["digest"]
    assert app["image"] == f"{local_registry.host}/{web['repo']}:latest"
    build = "\n".join(logs(edge, ada, app["id"], "build"))
    assert web["digest"] in build and "unpacked 1 layer(s)" in build
    # the container runs as root of its own user namespace only: the app's uid on the host
    inside = probe(platform, app, "id")
    assert "uid=0(" in inside or "uid=0 " in inside, inside
    assert "httpd" in inside  # pid 1 of its own pid namespace is the image's entrypoint

    v2 = local_registry.push(f"{web['repo']}:latest", busybox_web_image("hello v2"))
    assert v2 != web["digest"]
    hammer = Hammer(platform, app["slug"])
    hammer.start()
    try:
        wait_for(lambda: len(hammer.answers) >= 20, 30, "requests before the redeploy")
        done = deploy(edge, ada, app)
        assert done["status"] == "succeeded", done
        wait_for(lambda: hammer.bodies()[-1:] == ["hello v2"], 30, "v2 answering")
        seen = len(hammer.answers)
        wait_for(lambda: len(hammer.answers) >= seen + 20, 30, "requests after the switch")
    finally:
        hammer.stopped.set()
        hammer.join(10)
    failures = [a for a in hammer.answers if a[0] != 200]
    assert failures == [], failures[:5]
    bodies = hammer.bodies()
    assert set(bodies) == {"hello v1", "hello v2"}
    assert "hello v1" not in bodies[bodies.index("hello v2") :]
    assert get_app(edge, ada, app["id"])["current_release"]["image_digest"] == v2

    back = wait_operation(edge, ada, app["id"], request(edge, ada, app["id"], "rollback")["id"])
    assert back["status"] == "succeeded", back
    assert via_traefik(platform, app["slug"]).text == "hello v1"
    assert get_app(edge, ada, app["id"])["current_release"]["image_digest"] == web["digest"]


def test_from_inside_a_container_no_platform_port_and_no_private_network_is_reachable(
    platform, web
):
    app = web["app"]
    ports = {
        "postgresql": 5432,
        "rabbitmq": 5672,
        **{name: port for name, port in platform.ports.items() if name in platform.processes},
        "registry": platform.ports["registry"],
    }
    with socket.socket() as stand_in:
        stand_in.bind(("0.0.0.0", 0))
        stand_in.listen()
        ports["a stand-in server"] = stand_in.getsockname()[1]
        checked = 0
        for name, port in ports.items():
            if not host_connects("127.0.0.1", port):
                continue  # nothing of this run listens there
            for host in ("127.0.0.1", *host_addresses()):
                seen = probe(platform, app, "connect", host, str(port))
                assert not seen.startswith("code=0"), (name, host, port, seen)
                checked += 1
        assert checked >= 5
    # the probe works: the container reaches its own server on its own loopback
    assert probe(platform, app, "connect", "127.0.0.1", "8080").startswith("code=0")

    routes = probe(platform, app, "routes")
    for blocked in (
        "10.0.0.0/8",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "169.254.0.0/16",
        "100.64.0.0/10",
    ):
        assert f"prohibit {blocked}" in routes, routes
    for address in host_addresses():
        assert f"prohibit {address}" in routes, routes
    # a `prohibit` route refuses before a packet leaves: EACCES, not a timeout
    for address in ("10.213.77.2", "169.254.169.254"):
        seen = probe(platform, app, "connect", address, "80")
        assert "Permission denied" in seen, seen
    # busybox httpd listens on a dual-stack socket: /proc/net/tcp6 holds it
    listening = "\n".join(
        probe(platform, app, "file", path) for path in ("/proc/net/tcp", "/proc/net/tcp6")
    )
    ports_inside = {
        int(line.split()[1].rsplit(":", 1)[1], 16)
        for line in listening.splitlines()
        if len(line.split()) > 3 and line.split()[3] == "0A"
    }
    assert ports_inside == {8080}, listening  # its own server only, none of the host's


def test_a_registry_off_the_allowlist_is_refused(edge, ada):
    for image in ("docker.io/library/nginx:1.27", "nginx", "evil.example:5000/x/y:1"):
        r = edge.post(
            f"{API}/apps",
            json={"slug": f"c-{uuid.uuid4().hex[:8]}", "template": "container", "image": image},
            headers=ada.headers,
        )
        assert r.status_code == 422, r.text
        assert r.json()["error"]["code"] == "registry_not_allowed", r.text
        assert "not allowed" in r.json()["error"]["message"]
    bad = edge.post(
        f"{API}/apps",
        json={"slug": f"c-{uuid.uuid4().hex[:8]}", "template": "container", "image": "A B"},
        headers=ada.headers,
    )
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "invalid_image", bad.text
    none = edge.post(
        f"{API}/apps",
        json={"slug": f"c-{uuid.uuid4().hex[:8]}", "template": "container"},
        headers=ada.headers,
    )
    assert none.status_code == 422, none.text


def test_a_wrong_digest_or_a_tampered_blob_fails_the_deploy_with_a_reason(
    edge, ada, local_registry
):
    repo = f"t-{uuid.uuid4().hex[:6]}"
    local_registry.push(f"{repo}:1", busybox_web_image(f"tamper me {uuid.uuid4()}"))
    wrong = container(edge, ada, f"{local_registry.host}/{repo}@sha256:{'ab' * 32}")
    done = deploy(edge, ada, wrong)
    assert done["status"] == "failed"
    assert "was not found in its registry" in done["reason"], done

    [layer] = local_registry.layer_digests(f"{repo}:1")
    blob = local_registry.blob_file(layer)
    data = bytearray(blob.read_bytes())
    data[len(data) // 2] ^= 0xFF
    blob.write_bytes(bytes(data))
    tampered = container(edge, ada, f"{local_registry.host}/{repo}:1")
    done = deploy(edge, ada, tampered)
    assert done["status"] == "failed"
    assert "does not match its digest" in done["reason"], done
    assert get_app(edge, ada, tampered["id"])["current_release"] is None


def test_registry_credentials_are_write_only(edge, ada, local_registry):
    app = container(
        edge,
        ada,
        f"{local_registry.host}/secret/app:1",
        registry_username="robot",
        registry_password="s3cret-pass",
    )
    assert app["registry_username"] == "robot" and app["registry_password_set"] is True
    assert "s3cret-pass" not in edge.get(f"{API}/apps/{app['id']}", headers=ada.headers).text
    half = edge.patch(
        f"{API}/apps/{app['id']}", json={"registry_password": ""}, headers=ada.headers
    )
    assert half.status_code == 422, half.text


def test_another_person_cannot_see_or_touch_a_container(edge, platform, eve, web):
    app = web["app"]
    for method, path in (
        ("GET", f"/apps/{app['id']}"),
        ("PATCH", f"/apps/{app['id']}"),
        ("POST", f"/apps/{app['id']}/deployments"),
        ("POST", f"/apps/{app['id']}/rollback"),
        ("GET", f"/apps/{app['id']}/logs?kind=run"),
        ("DELETE", f"/apps/{app['id']}"),
    ):
        r = edge.request(
            method, API + path, headers=eve.headers, json={} if method != "GET" else None
        )
        assert r.status_code == 404, (method, path, r.status_code, r.text)
    mine = edge.get(f"{API}/apps", headers=eve.headers).json()
    assert app["id"] not in {a["id"] for a in mine["items"]}
    assert via_traefik(platform, app["slug"]).status_code == 200  # still serving its owner


def dockerfile(base: str, body: str) -> dict[str, str]:
    return {
        "Dockerfile": f"FROM {base}\nRUN echo '{body}' > /www/index.html\nUSER 0\n",
        "README": body,
    }


def test_a_dockerfile_is_built_in_the_sandbox_and_redeploys_without_a_failure(
    edge, platform, ada, local_registry, tmp_path
):
    base_digest = local_registry.push("base:1", busybox_web_image("base"))
    base = f"{local_registry.host}/base@{base_digest}"
    repo = make_repo(tmp_path / "repo", dockerfile(base, "built v1"))
    app = create_app(edge, ada, f"file://{repo}", template="dockerfile")
    done = deploy(edge, ada, app)
    assert done["status"] == "succeeded", (done["reason"], logs(edge, ada, app["id"])[-12:])
    assert via_traefik(platform, app["slug"]).text.strip() == "built v1"
    detail = get_app(edge, ada, app["id"])
    first = detail["current_release"]["image_digest"]
    assert first and first.startswith("sha256:") and first != base_digest
    build = "\n".join(logs(edge, ada, app["id"], "build"))
    assert f"is {base_digest}" in build and "STEP 2/3: RUN" in build

    commit(repo, dockerfile(base, "built v2"), "v2")
    hammer = Hammer(platform, app["slug"])
    hammer.start()
    try:
        wait_for(lambda: len(hammer.answers) >= 20, 30, "requests before the redeploy")
        again = deploy(edge, ada, app)
        assert again["status"] == "succeeded", (again, logs(edge, ada, app["id"]))
        wait_for(lambda: hammer.bodies()[-1:] == ["built v2\n"], 30, "v2 answering")
    finally:
        hammer.stopped.set()
        hammer.join(10)
    failures = [a for a in hammer.answers if a[0] != 200]
    assert failures == [], failures[:5]
    assert set(hammer.bodies()) == {"built v1\n", "built v2\n"}
    assert get_app(edge, ada, app["id"])["current_release"]["image_digest"] != first


def test_a_dockerfile_from_a_registry_off_the_allowlist_fails_before_any_build(edge, ada, tmp_path):
    repo = make_repo(tmp_path / "repo", dockerfile("docker.io/library/debian:12", "never"))
    app = create_app(edge, ada, f"file://{repo}", template="dockerfile")
    done = deploy(edge, ada, app)
    assert done["status"] == "failed"
    assert "docker.io are not allowed" in done["reason"], done
