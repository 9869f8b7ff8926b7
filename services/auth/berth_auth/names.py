"""The auth service's Celery names, defined once: its queue and its tasks' dotted names.

The mail tasks are `auth.mail.send` and `auth.mail.requeue_stale` (berth_common.mail.Mailer).
"""

QUEUE = "auth"
PURGE_TASK = f"{QUEUE}.maintenance.purge"
