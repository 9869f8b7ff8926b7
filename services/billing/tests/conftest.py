"""Fixtures of the billing service tests (in-process app, real PostgreSQL and RabbitMQ)."""

from fixtures_billing import *  # noqa: F403
