"""Fixtures of the chat service tests (in-process app, real PostgreSQL and RabbitMQ)."""

from fixtures_agents import *  # noqa: F403
from fixtures_chat import *  # noqa: F403
