"""Container pieces without the platform: image references and the allowlist, what an image's
config runs, the unpacker against hostile layers, the OCI config crun gets."""

import gzip
import hashlib
import io
import json
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from berth_deploy.sandbox.images import (
    InvalidImage,
    RegistryNotAllowed,
    _explain,
    check_allowed,
    parse_image,
)
from berth_deploy.sandbox.oci_runtime import (
    ContainerRun,
    ImageNotRunnable,
    oci_config,
    run_record,
)

UNPACKER = Path(__file__).parent.parent / "berth_deploy" / "sandbox" / "oci_unpack.py"


@pytest.mark.parametrize(
    ("value", "registry", "repository", "tag", "digest"),
    [
        ("nginx", "docker.io", "library/nginx", None, None),
        ("127.0.0.1:5000/team/web:1.2", "127.0.0.1:5000", "team/web", "1.2", None),
        ("reg.example.com/a/b@sha256:" + "a" * 64, "reg.example.com", "a/b", None, "sha256:" + "a" * 64),
        ("localhost:5000/x:latest", "localhost:5000", "x", "latest", None),
    ],
)  # fmt: skip
def test_image_references_parse_as_docker_reads_them(value, registry, repository, tag, digest):
    ref = parse_image(value)
    assert (ref.registry, ref.repository, ref.tag, ref.digest) == (
        registry,
        repository,
        tag,
        digest,
    )


@pytest.mark.parametrize(
    "value",
    ["", "A B", "reg/../x", "reg.example.com/x@sha256:short", "x;rm -rf /", "-x", "x" * 600],
)
def test_bad_references_are_refused(value):
    with pytest.raises(InvalidImage):
        parse_image(value)


def test_only_allowed_registries_pass():
    check_allowed(parse_image("127.0.0.1:5000/x:1"), ["127.0.0.1:5000"])
    for value in ("nginx", "127.0.0.1:5001/x:1", "evil.example/x"):
        with pytest.raises(RegistryNotAllowed) as err:
            check_allowed(parse_image(value), ["127.0.0.1:5000"])
        assert err.value.status_code == 422


def test_skopeo_failures_read_as_reasons():
    ref = parse_image("127.0.0.1:5000/x:1")
    assert "does not match its digest" in _explain("Digest did not match, expected sha256:", ref)
    assert "not found" in _explain("reading manifest 1: manifest unknown", ref)
    assert "could not be reached" in _explain("dial tcp: connection refused", ref)


def test_run_record_takes_the_images_entrypoint_user_and_port():
    config = {
        "config": {
            "Entrypoint": ["/bin/app"],
            "Cmd": ["--serve"],
            "Env": ["PATH=/bin", "A=b=c"],
            "User": "1000:1001",
            "WorkingDir": "srv",
            "ExposedPorts": {"9000/tcp": {}, "53/udp": {}},
        }
    }
    record = run_record(config, None, None)
    assert record["args"] == ["/bin/app", "--serve"]
    assert record["env"] == {"PATH": "/bin", "A": "b=c"}
    assert (record["uid"], record["gid"], record["cwd"]) == (1000, 1001, "/srv")
    assert record["inner_port"] == 9000
    own = run_record(config, 8080, "exec /bin/other")
    assert own["args"] == ["/bin/sh", "-c", "exec /bin/other"] and own["inner_port"] == 8080
    with pytest.raises(ImageNotRunnable):
        run_record({"config": {"Cmd": ["x"], "User": "nginx"}}, None, None)
    with pytest.raises(ImageNotRunnable):
        run_record({"config": {}}, None, None)


def test_the_oci_config_keeps_the_launchers_network_and_maps_one_uid(tmp_path):
    run = ContainerRun(tmp_path / "rootfs", tmp_path / "data", ["/bin/x"], {}, "/", 0, 0, 80)
    config = oci_config(run, 201_234, {"SECRET": "v"})
    namespaces = {n["type"] for n in config["linux"]["namespaces"]}
    assert "network" not in namespaces and {"user", "pid", "mount"} <= namespaces
    assert config["linux"]["uidMappings"] == [{"containerID": 0, "hostID": 201_234, "size": 1}]
    assert config["root"]["readonly"] is True and config["process"]["noNewPrivileges"] is True
    assert "CAP_NET_ADMIN" not in config["process"]["capabilities"]["bounding"]
    assert "CAP_SYS_ADMIN" not in config["process"]["capabilities"]["bounding"]


def _layout(tmp_path: Path, members: list[tuple[tarfile.TarInfo, bytes | None]]) -> Path:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    layer = gzip.compress(buf.getvalue())
    blobs = tmp_path / "blobs"
    (blobs / "sha256").mkdir(parents=True)

    def put(data: bytes) -> str:
        digest = hashlib.sha256(data).hexdigest()
        (blobs / "sha256" / digest).write_bytes(data)
        return f"sha256:{digest}"

    manifest = {
        "config": {"digest": put(b"{}")},
        "layers": [
            {"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": put(layer)}
        ],
    }
    layout = tmp_path / "layout"
    layout.mkdir()
    (layout / "index.json").write_text(
        json.dumps({"manifests": [{"digest": put(json.dumps(manifest).encode())}]})
    )
    return layout


def _member(name: str, kind=tarfile.REGTYPE, data: bytes = b"", link: str = ""):
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.mode = kind, link, 0o4755
    info.size = len(data) if kind == tarfile.REGTYPE else 0
    return info, data if kind == tarfile.REGTYPE else None


def _unpack(tmp_path: Path, layout: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-I", "-S", str(UNPACKER), str(layout), str(tmp_path / "blobs"),
         str(tmp_path / "rootfs")],
        capture_output=True, text=True, check=False,
    )  # fmt: skip


def test_the_unpacker_keeps_every_entry_inside_the_root(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    layout = _layout(
        tmp_path,
        [
            _member("bin/tool", data=b"#!/bin/sh\n"),
            # an absolute symlink, then a file written through it: lands in the root's own dir
            _member("escape", tarfile.SYMTYPE, link=str(outside)),
            _member("escape/planted", data=b"x"),
            _member("up", tarfile.SYMTYPE, link="../../../../.."),
            _member("up/planted2", data=b"y"),
            _member("dev/null", tarfile.CHRTYPE),
        ],
    )
    done = _unpack(tmp_path, layout)
    assert done.returncode == 0, done.stderr
    root = tmp_path / "rootfs"
    assert list(outside.iterdir()) == []
    assert (root / outside.relative_to("/") / "planted").read_bytes() == b"x"
    assert (root / "planted2").read_bytes() == b"y"
    assert not (root / "dev" / "null").exists()
    assert (root / "bin/tool").stat().st_mode & 0o7777 == 0o755  # setuid dropped


def test_the_unpacker_refuses_dot_dot_and_a_corrupt_blob(tmp_path):
    layout = _layout(tmp_path, [_member("../../etc/evil", data=b"x")])
    done = _unpack(tmp_path, layout)
    assert done.returncode == 2 and "climbs out of the image" in done.stderr
    assert not (tmp_path.parent / "etc" / "evil").exists()

    layer = next(p for p in (tmp_path / "blobs/sha256").iterdir() if p.stat().st_size > 40)
    layer.write_bytes(layer.read_bytes()[:-8] + b"tampered")
    done = _unpack(tmp_path, layout)
    assert done.returncode == 2 and "does not match its digest" in done.stderr


def test_a_dockerfiles_froms_are_read_and_rewritten_to_fetched_layouts():
    from berth_deploy.containers.dockerfile import external_froms, rewrite_froms
    from berth_deploy.operations.executor import StepFailed

    text = (
        "FROM reg.example/base@sha256:" + "a" * 64 + " AS build\n"
        "RUN make\n"
        "from --platform=linux/amd64 reg.example/run:1\n"
        "COPY --from=build /out /out\n"
        "FROM build\n"
        "FROM scratch\n"
    )
    images = external_froms(text)
    assert images == ["reg.example/base@sha256:" + "a" * 64, "reg.example/run:1"]
    out = rewrite_froms(text, {images[0]: "bases/0", images[1]: "bases/1"})
    assert "FROM oci:bases/0:image AS build" in out
    assert "from --platform=linux/amd64 oci:bases/1:image" in out
    assert "FROM build\n" in out and "FROM scratch\n" in out
    for bad in ("FROM $BASE\n", "RUN x\n", "FROM a \\\n  AS b\n"):
        with pytest.raises(StepFailed):
            external_froms(bad)
