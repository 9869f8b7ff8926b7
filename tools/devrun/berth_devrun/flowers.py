"""`make run`'s on-call dashboards: one Flower per task queue, all in one process.

A Flower process per queue costs about 40 MB of PSS each, six times over. Here every queue
still has a dashboard of its own: its own Celery app (the service's broker, control exchange
and event queues, made by the same `create_celery` as the service's worker, with none of the
service's code imported), its own port and its own URL prefix, `/ops/flower/<queue>/` (the
gateway's and Traefik's routes are unchanged). They share one Tornado IOLoop. Production runs
a Flower container per queue (deploy/compose).

    python -m berth_devrun.flowers auth=5601 billing=5602 ...

FLOWER_* variables apply to every dashboard, as they do to `celery flower`.
"""

import signal
import sys
import types

from flower.app import Flower
from flower.command import apply_env_options, setup_logging
from flower.urls import settings as flower_settings
from flower.utils import prepend_url
from tornado import ioloop
from tornado.options import options

from berth_common.config import ServiceSettings
from berth_common.worker import create_celery


def url_prefix(queue: str) -> str:
    return f"ops/flower/{queue}"


def dashboard(queue: str, port: int, loop: ioloop.IOLoop) -> Flower:
    """A Flower of `queue`, what `celery -A berth_<queue>.worker flower --port=<port>
    --address=127.0.0.1 --url_prefix=ops/flower/<queue>` would start."""
    capp = create_celery(ServiceSettings(service_name=queue), queue=queue, include=())
    own = types.SimpleNamespace(**options.as_dict())  # flower reads application.options
    own.port, own.address, own.url_prefix = port, "127.0.0.1", url_prefix(queue)
    settings = {**flower_settings, "debug": own.debug}
    for name in ("login_url", "static_url_prefix"):
        settings[name] = prepend_url(flower_settings[name], own.url_prefix)
    return Flower(capp=capp, options=own, io_loop=loop, **settings)


def parse(argv: list[str]) -> dict[str, int]:
    queues: dict[str, int] = {}
    for arg in argv:
        queue, _, port = arg.partition("=")
        if not queue.isidentifier() or not port.isdigit():
            raise SystemExit(f"expected <queue>=<port>, got {arg!r}")
        queues[queue] = int(port)
    if not queues:
        raise SystemExit(__doc__)
    return queues


def main(argv: list[str]) -> None:
    queues = parse(argv)
    apply_env_options()
    setup_logging()
    loop = ioloop.IOLoop.current()
    flowers = [dashboard(queue, port, loop) for queue, port in queues.items()]
    for flower, (queue, port) in zip(flowers, queues.items(), strict=True):
        flower.start_http_server()
        flower.events.start()
        flower.started = True
        flower.update_workers()
        print(f"{queue}: http://127.0.0.1:{port}/{url_prefix(queue)}/", flush=True)

    def stop(*_: object) -> None:
        for flower in flowers:
            flower.stop()  # each stops its events, its executor and the shared loop

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    loop.start()


if __name__ == "__main__":
    main(sys.argv[1:])
