"""container apps: an OCI image or a Dockerfile, registry credentials, the digest a release runs

Revision ID: e7c3a1f2d940
Revises: 7c3f1a9e5d42
Create Date: 2026-11-30 09:00:00

A container app names an image on a registry the operator allows; each release records the
digest it resolved to and runs exactly that one (a rollback runs the old digest). Registry
credentials are kept like secret env vars (Fernet, the env key) and are never shown again.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "e7c3a1f2d940"
down_revision: str | Sequence[str] | None = "7c3f1a9e5d42"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TEMPLATES = [
    {
        "key": "container",
        "name": "Container (OCI image)",
        "description": (
            "An OCI image from a registry this platform allows, pulled and run by its digest "
            "(crun, rootless, in the app sandbox). It listens on its first EXPOSEd port, the "
            "container port you set, or $PORT."
        ),
        "process_type": "web",
        "build_steps": [],
        "run_command": "",
        "health": {"type": "http", "path": "/", "timeout_seconds": 60},
        "rollout": "zero_downtime",
        "needs_repo": False,
        "default_memory_mb": 256,
        "default_cpu_millis": 500,
        "default_pids_max": 256,
        "plan_key": "web-small",
        "env": {},
    },
    {
        "key": "dockerfile",
        "name": "Container (Dockerfile)",
        "description": (
            "The Dockerfile at the root of your repository, built on the node (buildah, "
            "rootless, in the app sandbox; FROM images from a registry this platform allows) "
            "and run like an image."
        ),
        "process_type": "web",
        "build_steps": [],
        "run_command": "",
        "health": {"type": "http", "path": "/", "timeout_seconds": 60},
        "rollout": "zero_downtime",
        "needs_repo": True,
        "default_memory_mb": 256,
        "default_cpu_millis": 500,
        "default_pids_max": 256,
        "plan_key": "web-small",
        "env": {},
    },
]


def upgrade() -> None:
    op.add_column("apps", sa.Column("image", sa.String(length=600)), schema="deploy")
    op.add_column("apps", sa.Column("container_port", sa.Integer()), schema="deploy")
    op.add_column("apps", sa.Column("registry_username", sa.String(length=200)), schema="deploy")
    op.add_column(
        "apps", sa.Column("registry_password_encrypted", sa.LargeBinary()), schema="deploy"
    )
    op.add_column("releases", sa.Column("image_digest", sa.String(length=80)), schema="deploy")
    templates = sa.table(
        "templates",
        sa.column("key", sa.String),
        sa.column("name", sa.String),
        sa.column("description", sa.String),
        sa.column("process_type", sa.String),
        sa.column("build_steps", postgresql.JSONB),
        sa.column("run_command", sa.Text),
        sa.column("health", postgresql.JSONB),
        sa.column("rollout", sa.String),
        sa.column("needs_repo", sa.Boolean),
        sa.column("default_memory_mb", sa.Integer),
        sa.column("default_cpu_millis", sa.Integer),
        sa.column("default_pids_max", sa.Integer),
        sa.column("plan_key", sa.String),
        sa.column("env", postgresql.JSONB),
        schema="deploy",
    )
    op.bulk_insert(templates, TEMPLATES)


def downgrade() -> None:
    keys = ", ".join(f"'{t['key']}'" for t in TEMPLATES)
    op.execute(f"DELETE FROM deploy.templates WHERE key IN ({keys})")  # noqa: S608 - constants
    op.drop_column("releases", "image_digest", schema="deploy")
    op.drop_column("apps", "registry_password_encrypted", schema="deploy")
    op.drop_column("apps", "registry_username", schema="deploy")
    op.drop_column("apps", "container_port", schema="deploy")
    op.drop_column("apps", "image", schema="deploy")
