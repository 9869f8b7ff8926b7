"""Berth tickets: the support desk. Customers open tickets with context, staff answer from a
queue under SLA timers, incidents from monitoring link to the tickets they cause."""
