"""Fixtures of the tickets service tests (in-process app, real PostgreSQL and RabbitMQ)."""

from fixtures_mail import *  # noqa: F403
from fixtures_tickets import *  # noqa: F403
