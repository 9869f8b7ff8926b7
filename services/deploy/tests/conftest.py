"""Fixtures of the deploy service tests (fixtures_deploy.py)."""

from fixtures_deploy import *  # noqa: F403
