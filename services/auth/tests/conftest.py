"""Fixtures of the auth service tests; each half keeps its own in fixtures_<half>.py."""

from fixtures_accounts import *  # noqa: F403
from fixtures_oauth import *  # noqa: F403
