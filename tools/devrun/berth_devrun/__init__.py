"""Berth dev runner: the whole platform on one machine for `make run`."""
