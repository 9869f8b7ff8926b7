"""`make run`'s process manager (berth_devrun/manager.py): honcho's Manager with every entry
started by the runner itself and watched by a thread, not by a forked helper process each;
output, exits and "one stops, all stop" as honcho does them. And the one-process Flowers'
argument parsing (berth_devrun/flowers.py; the e2e test_ops_dashboards serves one)."""

import io
import os
import re
import sys

import psutil
import pytest
from honcho.printer import Printer

from berth_devrun import flowers, prefork
from berth_devrun.manager import ThreadedManager


def run(commands: dict[str, str], process_ctor=None) -> tuple[ThreadedManager, str]:
    out = io.StringIO()
    manager = ThreadedManager(Printer(out, colour=False, prefix=True))
    if process_ctor is not None:
        manager._process_ctor = process_ctor
    for name, cmd in commands.items():
        manager.add_process(name, cmd, env=dict(os.environ), cwd=os.getcwd())
    manager.loop()
    return manager, out.getvalue()


def test_every_entry_is_a_child_of_the_runner_and_its_output_and_exit_are_reported(tmp_path):
    probe = tmp_path / "probe.py"
    probe.write_text(
        "import os, sys\nprint('parent', os.getppid(), flush=True)\nsys.exit(int(sys.argv[1]))\n"
    )
    manager, out = run(
        {
            "quick": f"exec {sys.executable} {probe} 3",  # sh -c becomes the probe
            "slow": f"sleep 30 && {sys.executable} {probe} 0",
        }
    )
    # the runner itself is the parent of the entry: no helper process between them
    assert f"parent {os.getpid()}" in out
    assert "quick stopped (rc=3)" in out
    # the first to stop stops the rest, as honcho does
    assert "slow stopped (rc=-15)" in out or "slow stopped (rc=143)" in out
    assert manager.returncode == 3
    # nothing it started is left running
    started = [int(pid) for pid in re.findall(r"started \(pid=(\d+)\)", out)]
    assert len(started) == 2
    assert not [
        p
        for p in started
        if psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE
    ]


def test_a_preloaded_entry_forks_from_the_runner_too(tmp_path):
    module = tmp_path / "forked_probe.py"
    module.write_text("import os\nprint('forked from', os.getppid(), flush=True)\n")
    sys.path.insert(0, str(tmp_path))
    try:
        _, out = run({"probe": "python -m forked_probe"}, prefork.PreforkProcess)
    finally:
        sys.path.remove(str(tmp_path))
    assert f"forked from {os.getpid()}" in out
    assert "probe stopped (rc=0)" in out


def test_the_flowers_take_queue_port_pairs():
    assert flowers.parse(["auth=5601", "billing=5602"]) == {"auth": 5601, "billing": 5602}
    for bad in (["auth"], ["auth=x"], ["=5601"], ["a-b=1"]):
        with pytest.raises(SystemExit):
            flowers.parse(bad)
    with pytest.raises(SystemExit):
        flowers.parse([])
