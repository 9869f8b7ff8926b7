"""Fixtures of monitoring's in-process tests (real PostgreSQL and RabbitMQ; star-imported,
one module per part of the service)."""

from fixtures_checks import *  # noqa: F403
from fixtures_monitors import *  # noqa: F403
