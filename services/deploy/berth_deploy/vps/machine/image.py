"""Base images: a Debian rootfs by debootstrap, made a VPS (guest.py), cached as a qcow2.

    <images>/<image>/<build id>/base.qcow2   the root filesystem (ext4 on the whole disk)
                               /vmlinuz, initrd.img   Debian's kernel and initramfs from it
                               /rootfs/      the tree itself (the system-container fallback)
                               /build.json   what was built, from where, how long it took
    <images>/<image>/current -> <build id>   what new machines get
    <images>/debs/                            debootstrap's package cache (rebuilds are fast)

A build never replaces a base image in place: overlays keep naming the one they were made
on. One build at a time per node (an flock), with progress lines for the caller.
"""

import asyncio
import fcntl
import json
import os
import shutil
import time
import uuid
from pathlib import Path

from loguru import logger

from berth_deploy.vps.machine.config import MachineSettings
from berth_deploy.vps.machine.guest import ENABLE, FILES, MASK, PACKAGES
from berth_deploy.vps.machine.spec import IMAGES, MachineUnavailable, Progress

TOOLS_ENV = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8"}
SUITES = {"debian-12": "bookworm"}


class ImageBuildFailed(MachineUnavailable):
    code = "vps_image_build_failed"


def _quiet(_: str) -> None:
    return None


class BaseImage:
    """One built base image (its directory)."""

    def __init__(self, directory: Path):
        self.dir = directory

    @property
    def disk(self) -> Path:
        return self.dir / "base.qcow2"

    @property
    def kernel(self) -> Path:
        return self.dir / "vmlinuz"

    @property
    def initrd(self) -> Path:
        return self.dir / "initrd.img"

    @property
    def rootfs(self) -> Path:
        return self.dir / "rootfs"

    def complete(self) -> bool:
        return all(
            p.exists() for p in (self.disk, self.kernel, self.initrd, self.dir / "build.json")
        )

    def info(self) -> dict:
        return json.loads((self.dir / "build.json").read_text())


class ImageStore:
    def __init__(self, images_dir: Path, settings: MachineSettings):
        self.root = images_dir
        self.settings = settings

    def current(self, image: str) -> BaseImage | None:
        link = self.root / image / "current"
        if not link.is_symlink():
            return None
        built = BaseImage(self.root / image / os.readlink(link))
        return built if built.complete() else None

    async def ensure(self, image: str, progress: Progress | None = None) -> BaseImage:
        if image not in IMAGES:
            raise ImageBuildFailed(f"unknown image {image!r}")
        say = progress or _quiet
        found = self.current(image)
        if found is not None:
            return found
        self.root.mkdir(parents=True, exist_ok=True)
        self.root.chmod(0o755)  # QEMU's uids read base images (through their sandboxes)
        lock = os.open(self.root / ".build.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            say(f"waiting for the image build lock ({image})")
            await asyncio.to_thread(fcntl.flock, lock, fcntl.LOCK_EX)
            found = self.current(image)  # built by whoever held the lock
            if found is not None:
                say(f"{image}: built meanwhile")
                return found
            return await self._build(image, say)
        finally:
            os.close(lock)  # releases the flock

    async def _build(self, image: str, say: Progress) -> BaseImage:
        if os.geteuid() != 0:
            raise ImageBuildFailed("building a VPS image needs root (debootstrap)")
        started = time.monotonic()
        build_id = time.strftime("%Y%m%d%H%M%S") + "-" + uuid.uuid4().hex[:6]
        parent = self.root / image
        parent.mkdir(exist_ok=True)
        parent.chmod(0o755)
        work = parent / f".{build_id}.partial"
        rootfs = work / "rootfs"
        work.mkdir()
        try:
            await self._debootstrap(image, rootfs, say)
            say("customising the rootfs (console autologin, sshd, network, first-boot unit)")
            customise(rootfs)
            kernel, initrd = kernel_files(rootfs)
            shutil.copyfile(kernel, work / "vmlinuz")
            shutil.copyfile(initrd, work / "initrd.img")
            raw = work / "base.raw"
            size_mb = du_mb(rootfs) * 5 // 4 + 256
            say(f"making the root filesystem ({size_mb} MiB ext4)")
            await run(
                [
                    "mkfs.ext4",
                    "-q",
                    "-F",
                    "-L",
                    "berth-root",
                    "-d",
                    str(rootfs),
                    str(raw),
                    f"{size_mb}M",
                ],
                "mkfs.ext4",
            )
            say("converting to qcow2")
            await run(
                [
                    self.settings.qemu_img_path,
                    "convert",
                    "-O",
                    "qcow2",
                    str(raw),
                    str(work / "base.qcow2"),
                ],
                "qemu-img convert",
            )
            raw.unlink()
            seconds = round(time.monotonic() - started, 1)
            info = {
                "image": image,
                "build_id": build_id,
                "suite": SUITES[image],
                "mirror": self.settings.mirror,
                "kernel": kernel.name,
                "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "build_seconds": seconds,
                "qcow2_bytes": (work / "base.qcow2").stat().st_size,
                "rootfs_mb": size_mb,
            }
            (work / "build.json").write_text(json.dumps(info, indent=2))
            for path in (work, *(work / n for n in ("vmlinuz", "initrd.img", "base.qcow2"))):
                path.chmod(0o755 if path.is_dir() else 0o644)
            final = parent / build_id
            work.rename(final)
            tmp_link = parent / f".current-{build_id}"
            tmp_link.symlink_to(build_id)
            tmp_link.rename(parent / "current")
            say(f"{image} built in {seconds}s: {info['qcow2_bytes'] // 2**20} MiB qcow2")
            logger.info("vps image built {}", info)
            return BaseImage(final)
        except BaseException:
            shutil.rmtree(work, ignore_errors=True)
            raise

    async def _debootstrap(self, image: str, rootfs: Path, say: Progress) -> None:
        debs = self.root / "debs"
        debs.mkdir(exist_ok=True)
        argv = [
            shutil.which(self.settings.debootstrap_path, path=TOOLS_ENV["PATH"]) or "debootstrap",
            "--variant=minbase",
            f"--include={','.join(PACKAGES)}",
            f"--cache-dir={debs}",
            SUITES[image],
            str(rootfs),
            self.settings.mirror,
        ]
        say(f"debootstrap {SUITES[image]} from {self.settings.mirror}")
        env = dict(TOOLS_ENV)
        for name in ("http_proxy", "https_proxy", "no_proxy"):
            if name in os.environ:
                env[name] = os.environ[name]
        proc = await asyncio.create_subprocess_exec(
            *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, env=env
        )
        assert proc.stdout is not None
        tail: list[str] = []
        try:
            async with asyncio.timeout(self.settings.image_build_timeout_seconds):
                async for raw in proc.stdout:
                    line = raw.decode(errors="replace").rstrip()
                    tail = [*tail[-30:], line]
                    if line.startswith(
                        (
                            "I: Retrieving",
                            "I: Validating",
                            "I: Extracting",
                            "I: Unpacking",
                            "I: Configuring",
                        )
                    ):
                        continue  # hundreds of these: the phase lines below say enough
                    if line.startswith(("I: ", "W: ", "E: ")):
                        say(line)
                await proc.wait()
        except TimeoutError:
            proc.kill()
            await proc.wait()
            raise ImageBuildFailed("debootstrap timed out") from None
        if proc.returncode != 0:
            logger.error("debootstrap failed: {}", "\n".join(tail))
            raise ImageBuildFailed(
                f"debootstrap failed ({proc.returncode}): {tail[-1] if tail else ''}"
            )


def customise(rootfs: Path) -> None:
    for relative, (content, mode) in FILES.items():
        path = rootfs / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.is_symlink():
            path.unlink()  # e.g. a resolv.conf link: ours is a plain file
        path.write_text(content)
        path.chmod(mode)
    systemd = rootfs / "etc/systemd/system"
    for unit, target in ENABLE.items():
        wants = systemd / f"{target}.wants"
        wants.mkdir(exist_ok=True)
        link = wants / unit
        if not link.is_symlink():
            source = "/etc/systemd/system/berth-guest.service" if unit.startswith("berth") else None
            if source is None:
                template = unit.replace("@ttyS0", "@")
                source = f"/lib/systemd/system/{template}"
            link.symlink_to(source)
    for unit in MASK:
        link = systemd / unit
        if not link.is_symlink():
            link.symlink_to("/dev/null")
    for key in (rootfs / "etc/ssh").glob("ssh_host_*"):
        key.unlink()  # made on each machine's first boot (berth-guest-init)
    (rootfs / "var/lib/dbus/machine-id").unlink(missing_ok=True)
    for cache in ("var/cache/apt/archives", "var/lib/apt/lists"):
        for item in (rootfs / cache).glob("*"):
            if item.is_file():
                item.unlink()
    (rootfs / "etc/apt/sources.list").write_text(
        "deb http://deb.debian.org/debian bookworm main\n"
        "deb http://deb.debian.org/debian bookworm-updates main\n"
        "deb http://deb.debian.org/debian-security bookworm-security main\n"
    )


def kernel_files(rootfs: Path) -> tuple[Path, Path]:
    kernels = sorted((rootfs / "boot").glob("vmlinuz-*"))
    if not kernels:
        raise ImageBuildFailed("the rootfs has no kernel (linux-image-amd64 did not install)")
    version = kernels[-1].name.removeprefix("vmlinuz-")
    initrd = rootfs / "boot" / f"initrd.img-{version}"
    if not initrd.exists():
        raise ImageBuildFailed(f"no initramfs for kernel {version}")
    return kernels[-1], initrd


def du_mb(path: Path) -> int:
    total = 0
    for directory, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(directory, name)).st_blocks * 512
            except OSError:
                continue
    return total // 2**20 + 1


async def run(argv: list[str], what: str, seconds: float = 1800, ok: tuple = (0,)) -> str:
    proc = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, env=TOOLS_ENV
    )
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), seconds)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise ImageBuildFailed(f"{what} timed out") from None
    text = out.decode(errors="replace")
    if proc.returncode not in ok:
        raise ImageBuildFailed(f"{what} failed ({proc.returncode}): {text.strip()[-300:]}")
    return text
