"""Fixtures of monitoring's in-process tests (star-imported; each helper adds its module)."""

from fixtures_checks import *  # noqa: F403
from fixtures_monitors import *  # noqa: F403
