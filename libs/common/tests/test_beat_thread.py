"""`celery worker --beat-thread` (berth_common/beat.py): the app's beat in a thread of the
worker, not a process of its own; never together with -B (two beats would fire every periodic
task twice)."""

import threading
from types import SimpleNamespace

import pytest
from celery.exceptions import ImproperlyConfigured

from berth_common.beat import OPTION, ThreadedBeat
from berth_common.config import ServiceSettings
from berth_common.worker import create_celery


@pytest.fixture
def app():
    return create_celery(ServiceSettings(service_name="beattest"), queue="beattest", include=())


def a_worker(app, tmp_path):
    return SimpleNamespace(
        app=app, schedule_filename=str(tmp_path / "schedule"), scheduler=None, beat=None
    )


def test_the_worker_takes_the_option_and_the_step(app):
    assert any(OPTION in option.opts for option in app.user_options["worker"])
    assert ThreadedBeat in app.steps["worker"]


def test_with_the_flag_beat_is_a_thread_of_the_worker(app, tmp_path):
    w = a_worker(app, tmp_path)
    step = ThreadedBeat(w, beat_thread=True)
    assert step.enabled
    beat = step.create(w)
    assert isinstance(beat, threading.Thread)  # celery.beat._Threaded, not a Process
    assert beat.service.schedule_filename == w.schedule_filename


def test_without_the_flag_there_is_no_beat(app, tmp_path):
    assert not ThreadedBeat(a_worker(app, tmp_path)).enabled


def test_the_flag_and_b_together_are_refused(app, tmp_path):
    with pytest.raises(ImproperlyConfigured):
        ThreadedBeat(a_worker(app, tmp_path), beat_thread=True, beat=True)
