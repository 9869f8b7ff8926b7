"""Fixtures of the chat service tests (in-process app, real PostgreSQL and RabbitMQ)."""

from fixtures_chat import *  # noqa: F403
