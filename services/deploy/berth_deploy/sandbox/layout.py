"""Where an app's files live on a node: releases (one directory per build), the data
directory kept across releases and restarts ($HOME in the sandbox), the sandbox's identity."""

import os
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path

from berth_deploy.sandbox.bubblewrap import SandboxMounts, identity_files


def chown_tree(root: Path, uid: int) -> None:
    os.lchown(root, uid, uid)
    for directory, dirs, files in os.walk(root):
        for name in dirs + files:
            os.lchown(os.path.join(directory, name), uid, uid)


@dataclass(frozen=True)
class AppPaths:
    data_dir: Path
    app_id: uuid.UUID
    uid: int

    @property
    def root(self) -> Path:
        return self.data_dir / "apps" / str(self.app_id)

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def etc(self) -> Path:
        return self.root / "etc"

    def release(self, release_id: uuid.UUID) -> Path:
        return self.root / "releases" / str(release_id)

    def rootfs(self, release_id: uuid.UUID) -> Path:
        """A container release's root filesystem: its image, unpacked."""
        return self.release(release_id) / "rootfs"

    def image_layout(self, release_id: uuid.UUID) -> Path:
        """The release's OCI layout (index.json; blobs in the node's store): root's."""
        return self.root / "images" / str(release_id)

    def image_run(self, release_id: uuid.UUID) -> Path:
        """What the release's container runs (oci_runtime.run_record), out of the app's reach."""
        return self.root / "images" / f"{release_id}.run.json"

    def prepare(self) -> None:
        """Root-owned and closed to others, except what the app's own uid owns."""
        for directory in (self.data_dir / "apps", self.root, self.root / "releases"):
            directory.mkdir(parents=True, exist_ok=True)
            directory.chmod(0o711)
        self.data.mkdir(exist_ok=True)
        if os.geteuid() == 0:
            os.chown(self.data, self.uid, self.uid)
        self.data.chmod(0o700)
        identity_files(self.etc, self.uid)

    def fresh_release_dir(self, release_id: uuid.UUID) -> Path:
        path = self.release(release_id)
        if path.exists():
            shutil.rmtree(path)
        return path

    def own_release(self, release_id: uuid.UUID) -> None:
        path = self.release(release_id)
        if os.geteuid() == 0:
            chown_tree(path, self.uid)
        path.chmod(0o700)

    def mounts(
        self,
        release_id: uuid.UUID,
        tools: tuple[Path, ...] = (),
        read_only: tuple[Path, ...] = (),
    ) -> SandboxMounts:
        return SandboxMounts(
            app_dir=self.release(release_id),
            data_dir=self.data,
            passwd_file=self.etc / "passwd",
            group_file=self.etc / "group",
            tools=tools,
            read_only=read_only,
        )

    def remove_release(self, release_id: uuid.UUID) -> None:
        shutil.rmtree(self.release(release_id), ignore_errors=True)
        shutil.rmtree(self.image_layout(release_id), ignore_errors=True)
        self.image_run(release_id).unlink(missing_ok=True)

    def remove_all(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)
