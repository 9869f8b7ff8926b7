"""Auth's queue and task names are defined once and the worker, beat and senders agree."""


def test_beat_and_registered_tasks_use_the_names_defined_once(berth_env):
    from berth_auth import tasks, worker
    from berth_auth.mail import MAILER
    from berth_auth.names import PURGE_TASK, QUEUE

    registered = set(worker.app.tasks)
    assert {MAILER.send_task, MAILER.requeue_task, PURGE_TASK} <= registered
    assert tasks.send_email_task.name == "auth.mail.send"
    assert worker.app.conf.task_default_queue == QUEUE == "auth"
    schedule = worker.app.conf.beat_schedule
    assert {entry["task"] for entry in schedule.values()} == {PURGE_TASK, MAILER.requeue_task}
    for name, entry in schedule.items():
        assert name == entry["task"] and entry["options"]["queue"] == QUEUE
