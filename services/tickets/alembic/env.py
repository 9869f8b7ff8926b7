from berth_common.migrations import run_migrations
from berth_tickets.models import SCHEMA, Base

run_migrations(Base.metadata, SCHEMA)
