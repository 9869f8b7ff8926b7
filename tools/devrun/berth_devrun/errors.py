class RunnerError(Exception):
    """A failure the runner reports in one line, without a traceback."""
