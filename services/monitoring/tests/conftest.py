"""Fixtures of the monitoring service tests (in-process app, real PostgreSQL and RabbitMQ)."""

from fixtures_monitors import *  # noqa: F403
