"""Unpacks an OCI image's layers into a root filesystem (stdlib only, run as a script).

    python3 -I -S oci_unpack.py <layout dir> <shared blob dir> <rootfs dir>

It runs as a build step: in the app's sandbox, as the app's uid, with only the release
directory writable. A layer is a stranger's tar file, so on top of that every entry is placed
as a chroot would see it: names with `..` are refused, symlinks met on the way (absolute or
relative) are followed inside the root and never out of it, hard links point inside the root,
device nodes are skipped, and setuid/setgid bits are dropped. Each blob is checked against its
sha256 digest before it is read. Whiteouts (`.wh.<name>`, `.wh..wh..opq`) remove what lower
layers put there, as the OCI image spec says.
"""

import hashlib
import json
import os
import shutil
import stat
import sys
import tarfile

MAX_HOPS = 40
GZIP_TYPES = (
    "application/vnd.oci.image.layer.v1.tar+gzip",
    "application/vnd.docker.image.rootfs.diff.tar.gzip",
)
TAR_TYPES = ("application/vnd.oci.image.layer.v1.tar",)


class Refused(Exception):
    pass


def blob_path(blobs: str, digest: str) -> str:
    algo, _, value = digest.partition(":")
    if algo != "sha256" or len(value) != 64 or not all(c in "0123456789abcdef" for c in value):
        raise Refused(f"unsupported digest {digest[:80]}")
    return os.path.join(blobs, algo, value)


def read_verified(blobs: str, digest: str, limit: int = 4 * 1024 * 1024) -> bytes:
    with open(blob_path(blobs, digest), "rb") as f:
        data = f.read(limit + 1)
    if len(data) > limit:
        raise Refused(f"{digest} is too large for a manifest")
    if "sha256:" + hashlib.sha256(data).hexdigest() != digest:
        raise Refused(f"blob {digest} does not match its digest")
    return data


def check_blob(blobs: str, digest: str) -> str:
    path = blob_path(blobs, digest)
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    if "sha256:" + h.hexdigest() != digest:
        raise Refused(f"layer {digest} does not match its digest")
    return path


def split(name: str) -> list[str]:
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if any(p == ".." for p in parts):
        raise Refused(f"entry {name[:200]!r} climbs out of the image")
    return parts


def resolve(root: str, parts: list[str], follow_last: bool = False) -> str:
    """The host path of `parts` inside `root`, symlinks followed as a chroot would."""
    done: list[str] = []
    todo = list(parts)
    hops = 0
    while todo:
        part = todo.pop(0)
        if part == "..":
            if done:
                done.pop()
            continue
        if part in ("", "."):
            continue
        candidate = os.path.join(root, *done, part)
        if os.path.islink(candidate) and (todo or follow_last):
            hops += 1
            if hops > MAX_HOPS:
                raise Refused("too many levels of symbolic links")
            target = os.readlink(candidate)
            if target.startswith("/"):
                done = []
            todo = [p for p in target.split("/") if p] + todo
            continue
        done.append(part)
    return os.path.join(root, *done)


def remove(path: str) -> None:
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path)
    elif os.path.lexists(path):
        os.unlink(path)


def extract_layer(root: str, path: str, media_type: str, dir_modes: dict[str, int]) -> None:
    if media_type in GZIP_TYPES:
        mode = "r|gz"
    elif media_type in TAR_TYPES or media_type.endswith("tar"):
        mode = "r|"
    else:
        raise Refused(f"layers of type {media_type[:100]} are not supported")
    with tarfile.open(path, mode) as tar:
        for member in tar:
            parts = split(member.name)
            if not parts:
                continue
            base = parts[-1]
            parent = resolve(root, parts[:-1], follow_last=True)
            if not parent.startswith(root):
                raise Refused("entry outside the root")
            if base == ".wh..wh..opq":
                for entry in os.listdir(parent) if os.path.isdir(parent) else []:
                    remove(os.path.join(parent, entry))
                continue
            if base.startswith(".wh."):
                remove(os.path.join(parent, base[4:]))
                continue
            os.makedirs(parent, exist_ok=True)
            target = os.path.join(parent, base)
            if member.isdir():
                real = resolve(root, parts, follow_last=True)  # a symlink to a dir stays
                if os.path.lexists(real) and not os.path.isdir(real):
                    remove(real)
                os.makedirs(real, exist_ok=True)
                dir_modes[real] = member.mode & 0o1777
                continue
            if os.path.lexists(target):
                remove(target)
            if member.issym():
                os.symlink(member.linkname, target)
            elif member.islnk():
                source = resolve(root, split(member.linkname))
                if not os.path.isfile(source) or os.path.islink(source):
                    raise Refused(f"hard link {member.name[:200]!r} to nothing in the image")
                os.link(source, target, follow_symlinks=False)
            elif member.isreg():
                src = tar.extractfile(member)
                fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
                with os.fdopen(fd, "wb") as out:
                    shutil.copyfileobj(src, out, 1 << 20)
                os.chmod(target, member.mode & 0o777)
                os.utime(target, (member.mtime, member.mtime))
            elif member.isfifo():
                os.mkfifo(target, member.mode & 0o777)
            # device nodes: nothing (the container gets its own /dev)


def main() -> None:
    layout, blobs, root = sys.argv[1:4]
    os.umask(0o022)
    with open(os.path.join(layout, "index.json")) as f:
        index = json.load(f)
    manifest_digest = index["manifests"][0]["digest"]
    manifest = json.loads(read_verified(blobs, manifest_digest))
    if "layers" not in manifest:
        raise Refused("the image's manifest lists no layers")
    if os.path.lexists(root):
        shutil.rmtree(root)
    os.makedirs(root, 0o755)
    root = os.path.realpath(root)
    dir_modes: dict[str, int] = {}
    for layer in manifest["layers"]:
        path = check_blob(blobs, layer["digest"])
        extract_layer(root, path, layer.get("mediaType", ""), dir_modes)
    for directory, mode in sorted(dir_modes.items(), reverse=True):
        if os.path.isdir(directory) and not os.path.islink(directory):
            # the app's uid keeps write access to what it owns (it is root in the container)
            os.chmod(directory, (mode | stat.S_IRWXU) & 0o1777)
    print(f"unpacked {len(manifest['layers'])} layer(s) of {manifest_digest}")


if __name__ == "__main__":
    try:
        main()
    except (Refused, OSError, ValueError, KeyError, tarfile.TarError) as exc:
        print(f"the image could not be unpacked: {exc}", file=sys.stderr)
        sys.exit(2)
