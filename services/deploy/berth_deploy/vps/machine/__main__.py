"""Operators and CI: `python -m berth_deploy.vps.machine build-image [debian-12]` builds (or
finds) the base image under DEPLOY_VPS_IMAGES_DIR / <DEPLOY_DATA_DIR>/vps/images, printing
progress; `... check-kvm` says whether this node runs KVM guests."""

import argparse
import asyncio
import json
import os
import sys
import time
from pathlib import Path

from berth_deploy.vps.machine.config import MachineSettings
from berth_deploy.vps.machine.image import ImageStore
from berth_deploy.vps.machine.kvm_base import kvm_works


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m berth_deploy.vps.machine")
    sub = parser.add_subparsers(dest="command", required=True)
    build = sub.add_parser("build-image", help="build the base image unless it is cached")
    build.add_argument("image", nargs="?", default="debian-12")
    sub.add_parser("check-kvm", help="exit 0 if /dev/kvm runs guests here")
    args = parser.parse_args()
    if args.command == "check-kvm":
        works = kvm_works()
        print("kvm: works" if works else "kvm: unavailable (the container fallback serves VPSes)")
        sys.exit(0 if works else 1)
    settings = MachineSettings()
    data_dir = Path(os.environ.get("DEPLOY_DATA_DIR", "var/deploy")).resolve()
    store = ImageStore(settings.images_dir or data_dir / "vps" / "images", settings)
    started = time.monotonic()

    def say(line: str) -> None:
        print(f"[{time.monotonic() - started:7.1f}s] {line}", flush=True)

    base = asyncio.run(store.ensure(args.image, say))
    print(json.dumps({"dir": str(base.dir), **base.info()}, indent=2))


if __name__ == "__main__":
    main()
