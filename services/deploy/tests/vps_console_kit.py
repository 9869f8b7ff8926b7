"""A stand-in for a machine's console: a real interactive bash on a pty, served on a Unix
socket one client at a time with everything it prints appended to a log, as QEMU's chardev
socket server with `logfile=` does for a guest's serial console."""

import contextlib
import os
import pty
import select
import signal
import socket
import threading
from pathlib import Path


class StandInConsole:
    def __init__(self, directory: Path):
        self.socket_path = directory / "console.sock"
        self.log_path = directory / "console.log"
        self._stop = threading.Event()
        env = {
            "PATH": "/usr/bin:/bin",
            "HOME": str(directory),
            "TERM": "xterm",
            "PS1": "root@stand-in:~# ",
        }
        self.pid, self.fd = pty.fork()
        if self.pid == 0:  # the child: the console's shell
            os.execve("/bin/bash", ["bash", "--norc", "--noprofile", "-i"], env)
        self.server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.server.bind(str(self.socket_path))
        self.server.listen(1)
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def locate(self, _vps_id) -> tuple[Path, Path]:
        return self.socket_path, self.log_path

    def _serve(self) -> None:
        client: socket.socket | None = None
        with self.log_path.open("ab", buffering=0) as log:
            while not self._stop.is_set():
                # like QEMU: a second client is not served while one is connected
                watched = [self.fd, client if client is not None else self.server]
                ready, _, _ = select.select(watched, [], [], 0.2)
                if self.fd in ready:
                    try:
                        data = os.read(self.fd, 65536)
                    except OSError:
                        return
                    if not data:
                        return
                    log.write(data)
                    if client is not None:
                        try:
                            client.sendall(data)
                        except OSError:
                            client.close()
                            client = None
                if client is None and self.server in ready:
                    client, _ = self.server.accept()
                elif client is not None and client in ready:
                    try:
                        data = client.recv(65536)
                    except OSError:
                        data = b""
                    if not data:
                        client.close()
                        client = None
                    else:
                        os.write(self.fd, data)
        if client is not None:
            client.close()

    def close(self) -> None:
        self._stop.set()
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(self.pid, 0)
        self.thread.join(5)
        self.server.close()
        os.close(self.fd)
