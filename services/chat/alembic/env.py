from berth_chat.models import SCHEMA, Base
from berth_common.migrations import run_migrations

run_migrations(Base.metadata, SCHEMA)
