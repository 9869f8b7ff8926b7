"""honcho's Manager with each process watched by a thread of the runner.

honcho forks a helper process per Procfile entry (`multiprocessing.Process`), which starts
the entry and forwards its output: some thirty helpers of about 5.5 MB PSS each in `make
run`. Here every entry is started first, by the runner itself, before any thread exists (a
fork is then safe, and a preloaded entry still forks from the runner's interpreter), and one
thread per entry forwards its output and its exit to honcho's event queue; the rest of honcho
(printing, stopping everything when one entry stops, signals) is unchanged.
"""

import queue
import threading

from honcho.manager import Manager
from honcho.process import Process


class ThreadedProcess(Process):
    """honcho's Process split in two: `spawn` starts the child, `run` only watches it."""

    def spawn(self) -> None:
        self._child = self._child_ctor(self.cmd, env=self.env, cwd=self.cwd)

    def run(self, events=None, ignore_signals=False) -> None:
        # honcho's Process.run, less starting the child and less its signal handling (a
        # thread cannot set handlers; the runner's are honcho's Manager's)
        self._events = events
        self._send_message({"pid": self._child.pid}, type="start")
        for line in iter(self._child.stdout.readline, b""):
            if not self.quiet:
                self._send_message(line)
        self._child.stdout.close()
        self._child.wait()
        self._send_message({"returncode": self._child.returncode}, type="stop")


class ThreadedManager(Manager):
    def __init__(self, *args, process_ctor: type[ThreadedProcess] = ThreadedProcess, **kwargs):
        super().__init__(*args, **kwargs)
        self.events = queue.Queue()  # threads, not processes, put on it
        self._process_ctor = process_ctor

    def _start(self) -> None:
        for p in self._processes.values():
            p["obj"].spawn()
        for name, p in self._processes.items():
            p["process"] = threading.Thread(
                target=p["obj"].run, args=(self.events,), name=f"watch {name}", daemon=True
            )
            p["process"].start()
