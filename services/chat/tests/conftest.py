from fixtures_agents import *  # noqa: F403
