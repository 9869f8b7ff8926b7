"""`celery worker --beat-thread`: the app's beat as a thread of the worker's main process.

`-B` embeds beat as a process of its own, forked from the worker: about 25 MB of PSS each for
six services in `make run`. The thread runs the same `celery.beat.Service` (the schedule file
given with `-s`, the app's scheduler), so there is still exactly one beat per schedule as long
as one worker of the app is started with the flag, which the Procfile does. Production runs
beat as a process of its own (deploy/compose); this is the one-machine default's saving.
"""

from typing import Any

import click
from celery import Celery, bootsteps
from celery.beat import EmbeddedService
from celery.exceptions import ImproperlyConfigured

OPTION = "--beat-thread"


class ThreadedBeat(bootsteps.StartStopStep):
    """Starts beat in a thread when the worker runs with `--beat-thread` (not with `-B`)."""

    label = "ThreadedBeat"
    conditional = True

    def __init__(self, w: Any, beat_thread: bool = False, **kwargs: Any) -> None:
        if beat_thread and kwargs.get("beat"):
            raise ImproperlyConfigured(f"{OPTION} and -B both start a beat: choose one")
        self.enabled = bool(beat_thread)
        super().__init__(w, **kwargs)

    def create(self, w: Any) -> Any:
        return EmbeddedService(
            w.app,
            schedule_filename=w.schedule_filename,
            scheduler_cls=w.scheduler,
            thread=True,
        )


def install_threaded_beat(app: Celery) -> None:
    app.user_options["worker"].add(
        click.Option(
            (OPTION,),
            is_flag=True,
            default=False,
            help="Run beat as a thread of this worker (one worker per app: make run).",
        )
    )
    app.steps["worker"].add(ThreadedBeat)
