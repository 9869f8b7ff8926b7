"""A target for monitoring's checks in tests and benchmarks: a small HTTP/1.1 server that only
ever listens on 127.0.0.2 (the one non-public address the test environment opens to monitors).

  GET /ok            200 "ok" (keep-alive)
  GET /slow?d=5      200 after d seconds
  GET /status/503    that status

In a thread (`ThreadedTarget`, requests logged with their arrival time) or as a process:
`python -m berth_testing.monitor_target --port 8200` (prints "ready" when listening).
"""

import argparse
import asyncio
import threading
import time
from urllib.parse import parse_qs, urlsplit

HOST = "127.0.0.2"


class TargetServer:
    def __init__(self, log: bool = True):
        self.log = log
        self.requests: list[tuple[float, str]] = []
        self.count = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                target = head.split(b" ", 2)[1].decode("latin-1")
                self.count += 1
                if self.log:
                    self.requests.append((time.time(), target))
                parts = urlsplit(target)
                status, body = 200, b"ok"
                if parts.path == "/slow":
                    delay = float(parse_qs(parts.query).get("d", ["5"])[0])
                    await asyncio.sleep(delay)
                elif parts.path.startswith("/status/"):
                    status = int(parts.path.rsplit("/", 1)[1])
                    body = b"status"
                elif parts.path != "/ok":
                    status, body = 404, b"not found"
                writer.write(
                    b"HTTP/1.1 %d X\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n%s"
                    % (status, len(body), body)
                )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()


class ThreadedTarget:
    """The server on its own event loop in a daemon thread; `with ThreadedTarget() as t:`."""

    def __init__(self, port: int = 0):
        self.server = TargetServer()
        self.port = port
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)

        async def main() -> None:
            listener = await asyncio.start_server(self.server.handle, HOST, self.port)
            self.port = listener.sockets[0].getsockname()[1]
            self._listener = listener
            self._ready.set()
            await listener.serve_forever()

        try:
            self._loop.run_until_complete(main())
        except asyncio.CancelledError:
            pass

    def url(self, path: str) -> str:
        return f"http://{HOST}:{self.port}{path}"

    def __enter__(self) -> "ThreadedTarget":
        self._thread.start()
        self._ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        def stop() -> None:
            self._listener.close()
            for task in asyncio.all_tasks(self._loop):
                task.cancel()

        self._loop.call_soon_threadsafe(stop)
        self._thread.join(5)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()

    async def serve() -> None:
        server = TargetServer(log=False)
        listener = await asyncio.start_server(server.handle, HOST, args.port, backlog=4096)
        print("ready", flush=True)
        async with listener:
            await listener.serve_forever()

    asyncio.run(serve())


if __name__ == "__main__":
    main()
