"""The deploy worker's task goes through the common task wrapper and keeps its reliability
options: acks late, retries transient failures only, backs off with jitter, stays under the
broker's consumer timeout. Read from a worker-like process (the task module builds the
Celery app from the environment)."""

import json
import os
import subprocess
import sys

from berth_deploy.names import QUEUE, RUN_OPERATION_TASK

PROBE = """
import json
from berth_common.worker import TRANSIENT_ERRORS
from berth_deploy.tasks import run_operation
from berth_deploy.worker import celery_app, settings
task = celery_app.tasks[run_operation.name]
print(json.dumps({
    "name": task.name,
    "queue": celery_app.conf.task_default_queue,
    "flags": [task.acks_late, task.reject_on_worker_lost, task.ignore_result, task.retry_jitter],
    "transient_only": task.autoretry_for == TRANSIENT_ERRORS,
    "backoff": [task.retry_backoff, task.retry_backoff_max, task.max_retries],
    "limits": [task.soft_time_limit - settings.step_time_limit,
               task.time_limit - settings.step_time_limit, settings.step_time_limit],
}))
"""


def test_run_operation_keeps_its_reliability_options(berth_env):
    out = subprocess.run(
        [sys.executable, "-c", PROBE],
        env={**os.environ, **berth_env},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    task = json.loads(out.strip().splitlines()[-1])
    assert (task["name"], task["queue"]) == (RUN_OPERATION_TASK, QUEUE)
    assert task["flags"] == [True, True, True, True]
    assert task["transient_only"] is True
    assert task["backoff"] == [2, 60, 10]
    soft, hard, step = task["limits"]
    assert (soft, hard) == (0, 60) and step + 60 < 30 * 60
