"""Queue and task names are defined once (berth_billing.names) and the worker agrees."""

from berth_billing.names import QUEUE, Task


def _task_names() -> set[str]:
    return {value for key, value in vars(Task).items() if key.isupper()}


def test_every_named_task_is_registered_and_every_beat_entry_is_a_named_task(berth_env):
    from berth_billing import tasks  # noqa: F401  (registers the tasks on the worker's app)
    from berth_billing.worker import app

    assert _task_names() <= set(app.tasks)
    assert app.conf.task_default_queue == QUEUE
    for entry in app.conf.beat_schedule.values():
        assert entry["task"] in _task_names()
        assert entry["options"]["queue"] == QUEUE


def test_task_names_are_dotted_and_billing_owned():
    for name in _task_names():
        assert name.startswith("billing.") and name.count(".") == 2, name
