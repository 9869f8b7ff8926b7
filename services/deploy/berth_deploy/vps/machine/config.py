"""The VPS machine driver's settings (env prefix DEPLOY_VPS_), beside DeploySettings."""

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class MachineSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="DEPLOY_VPS_", extra="ignore")

    # auto: KVM where /dev/kvm opens and creates a VM, else the system-container fallback
    hypervisor: Literal["auto", "kvm", "container"] = "auto"
    # the KVM driver's accelerator. tcg is QEMU's software emulation: many times slower, for
    # proving the QEMU driver on a node without KVM (the tests do); never for customers
    accel: Literal["kvm", "tcg"] = "kvm"
    # base images (debootstrapped rootfs, qcow2, kernel, initrd);
    # unset: <DEPLOY_DATA_DIR>/vps/images
    images_dir: Path | None = None
    mirror: str = "http://deb.debian.org/debian"
    suite: str = "bookworm"
    qemu_path: str = "qemu-system-x86_64"
    qemu_img_path: str = "qemu-img"
    debootstrap_path: str = "debootstrap"
    # QEMU's own memory on top of the guest's RAM, in the VPS's cgroup limit
    memory_overhead_mb: int = Field(384, ge=64, le=8192)
    pids_max: int = Field(256, ge=32, le=4096)
    # how long a soft stop waits for the guest before it is cut off
    stop_timeout_seconds: float = Field(60.0, ge=1, le=600)
    image_build_timeout_seconds: int = Field(3600, ge=60, le=4 * 3600)
