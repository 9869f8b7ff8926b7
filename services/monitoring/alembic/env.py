from berth_common.migrations import run_migrations
from berth_monitoring.models import SCHEMA, Base

run_migrations(Base.metadata, SCHEMA)
