"""Berth monitoring: monitors and their checks, incidents, alert channels, status pages, and
the on-call engineers' queue pages."""
