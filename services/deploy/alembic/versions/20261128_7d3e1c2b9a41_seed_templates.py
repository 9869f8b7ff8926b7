"""seed the template catalog

Revision ID: 7d3e1c2b9a41
Revises: 0576c05e50ae
Create Date: 2026-11-28 23:45:00

The catalog is data: admins add and edit templates through /api/deploy/v1/admin/templates.
These are the five the platform starts with; their plan keys are priced by billing.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "7d3e1c2b9a41"
down_revision: str | Sequence[str] | None = "0576c05e50ae"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PYTHON_BUILD = [
    {"run": "uv venv --quiet --python python3 .venv"},
    {
        "run": "uv pip install --quiet --python .venv/bin/python -r requirements.txt",
        "if_exists": "requirements.txt",
    },
    {"run": "uv pip install --quiet --python .venv/bin/python .", "if_exists": "pyproject.toml"},
]

# logs reach the run log as they are printed, not when a buffer fills
PYTHON_ENV = {"PYTHONUNBUFFERED": "1"}

TEMPLATES = [
    {
        "key": "python-web",
        "name": "Python web app",
        "description": (
            "A Python web app from git: requirements.txt or pyproject.toml is installed into a "
            "virtualenv; it runs the Procfile `web:` line (default `python app.py`) and must "
            "listen on 127.0.0.1:$PORT."
        ),
        "process_type": "web",
        "build_steps": PYTHON_BUILD,
        "run_command": "python app.py",
        "health": {"type": "http", "path": "/", "timeout_seconds": 60},
        "rollout": "zero_downtime",
        "needs_repo": True,
        "default_memory_mb": 256,
        "default_cpu_millis": 500,
        "default_pids_max": 128,
        "plan_key": "web-small",
        "env": PYTHON_ENV,
    },
    {
        "key": "static-site",
        "name": "Static site",
        "description": (
            "Files from git served as they are (the `public/` directory when there is one, "
            "else the repository root) by a small static server."
        ),
        "process_type": "web",
        "build_steps": [],
        "run_command": (
            'root=.; [ -d public ] && root=public; exec python3 -m http.server "$PORT" '
            '--bind 127.0.0.1 --directory "$root"'
        ),
        "health": {"type": "http", "path": "/", "timeout_seconds": 30},
        "rollout": "zero_downtime",
        "needs_repo": True,
        "default_memory_mb": 128,
        "default_cpu_millis": 250,
        "default_pids_max": 32,
        "plan_key": "static-small",
        "env": {},
    },
    {
        "key": "worker",
        "name": "Worker / bot",
        "description": (
            "A long-running process with no port (a Telegram bot, a queue consumer): the "
            "Procfile `worker:` line (default `python worker.py`). Healthy while it stays up."
        ),
        "process_type": "worker",
        "build_steps": PYTHON_BUILD,
        "run_command": "python worker.py",
        "health": {"type": "process", "stable_seconds": 3, "timeout_seconds": 30},
        "rollout": "recreate",
        "needs_repo": True,
        "default_memory_mb": 256,
        "default_cpu_millis": 500,
        "default_pids_max": 128,
        "plan_key": "worker-small",
        "env": PYTHON_ENV,
    },
    {
        "key": "ai-agent",
        "name": "AI agent",
        "description": (
            "A Python web app that speaks the agent contract: POST /chat with JSON "
            '{"message": str, "conversation_id": str} answers JSON {"reply": str}. Its LLM '
            "endpoint and key are ordinary env vars (mark the key secret)."
        ),
        "process_type": "web",
        "build_steps": PYTHON_BUILD,
        "run_command": "python app.py",
        "health": {
            "type": "http",
            "method": "POST",
            "path": "/chat",
            "json": {"message": "ping", "conversation_id": "berth-health-check"},
            "expect_json": True,
            "timeout_seconds": 60,
        },
        "rollout": "zero_downtime",
        "needs_repo": True,
        "default_memory_mb": 512,
        "default_cpu_millis": 500,
        "default_pids_max": 128,
        "plan_key": "agent-small",
        "env": PYTHON_ENV,
    },
    {
        "key": "n8n",
        "name": "n8n",
        "description": (
            "n8n from the npm registry (N8N_VERSION env var, default 1), one instance per app; "
            "its data (workflows, credentials) lives in the app's data directory ($HOME) and "
            "is kept across restarts and redeploys."
        ),
        "process_type": "web",
        "build_steps": [
            {
                "run": (
                    "npm install --no-audit --no-fund --loglevel=error --omit=dev "
                    '"n8n@${N8N_VERSION:-1}"'
                )
            }
        ],
        "run_command": (
            'N8N_PORT="$PORT" N8N_LISTEN_ADDRESS=127.0.0.1 N8N_USER_FOLDER="$HOME" '
            "N8N_DIAGNOSTICS_ENABLED=false exec node_modules/.bin/n8n start"
        ),
        "health": {"type": "http", "path": "/healthz", "timeout_seconds": 300},
        "rollout": "recreate",
        "needs_repo": False,
        "default_memory_mb": 1024,
        "default_cpu_millis": 1000,
        "default_pids_max": 256,
        "plan_key": "n8n-small",
        "env": {},
    },
]


def upgrade() -> None:
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
