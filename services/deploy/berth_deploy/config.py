"""Deploy's settings: env prefix DEPLOY_ plus the platform-wide contract variables."""

import re
import socket
from functools import lru_cache
from ipaddress import IPv4Address
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import SettingsConfigDict

from berth_common.config import ServiceSettings
from berth_deploy.names import NODE_QUEUE_PREFIX

NODE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}")


class DeploySettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="DEPLOY_", extra="ignore")
    task_queue_prefixes: ClassVar[tuple[str, ...]] = (NODE_QUEUE_PREFIX,)

    service_name: str = "deploy"

    # the env contract (no prefix)
    data_dir: Path = Field(Path("var/deploy"), validation_alias="DEPLOY_DATA_DIR")
    traefik_dynamic_dir: Path = Field(
        Path("var/traefik/dynamic"), validation_alias="TRAEFIK_DYNAMIC_DIR"
    )
    apps_domain: str = Field("apps.localhost", validation_alias="APPS_DOMAIN")
    # billing's web process, asked for its plan list (apps per person on each plan)
    billing_url: str = Field("http://127.0.0.1:8102", validation_alias="BILLING_URL")
    # Fernet key(s), comma-separated: the first encrypts, all decrypt (rotation)
    env_encryption_key: SecretStr = Field(..., validation_alias="DEPLOY_ENV_ENCRYPTION_KEY")
    # where this node reaches Traefik's `web` entry point to confirm a route is served
    traefik_entry_url: str | None = Field(
        None, validation_alias=AliasChoices("DEPLOY_TRAEFIK_ENTRY_URL")
    )

    # which repositories may be deployed: https:// always, file:// only for repositories under
    # this directory (dev and tests; unset: none)
    local_repos_dir: Path | None = None
    git_timeout_seconds: int = Field(300, ge=5, le=900)
    # the apps' own repositories on Berth (what `git push` stores), one bare repository each;
    # unset: <DEPLOY_DATA_DIR>/git
    git_dir: Path | None = None
    # `git push` to Berth: deploy tokens per app, the largest push (request body) and
    # repository, and how long a push shows its deploy before it lets the client go
    deploy_tokens_per_app: int = Field(10, ge=1, le=100)
    push_max_bytes: int = Field(100 * 1024 * 1024, ge=1024)
    repo_max_bytes: int = Field(1024 * 1024 * 1024, ge=1024)
    push_wait_seconds: float = Field(600.0, ge=0, le=3600)
    # pushes to one app served at once by one web process (each may wait on its deploy)
    pushes_per_app: int = Field(3, ge=1, le=100)

    # forge webhooks: the largest body taken, and how old a delivery may be where it says
    # when it was sent (webhooks/forges.py: which forges do)
    webhook_max_bytes: int = Field(1024 * 1024, ge=16 * 1024, le=25 * 1024 * 1024)
    webhook_max_age_seconds: int = Field(900, ge=30, le=86_400)
    # polling apps' remotes: beat's tick, apps claimed per tick, one ls-remote's time limit
    poll_tick_seconds: float = Field(15.0, ge=1, le=600)
    poll_batch: int = Field(20, ge=1, le=500)
    poll_timeout_seconds: int = Field(30, ge=5, le=300)

    # apps one person may have on a plan come from billing's plans, kept this long; when
    # billing has never answered (or does not know the plan) the fallback applies (plans.py)
    plan_cache_seconds: float = Field(60.0, ge=0, le=3600)
    billing_timeout_seconds: float = Field(3.0, ge=0.1, le=30)
    app_quota_fallback: int = Field(5, ge=0, le=10_000)
    # live preview apps (one per branch or pull request) one app may have; previews do not
    # count against the owner's app quota, this caps them instead
    previews_per_app: int = Field(5, ge=0, le=100)
    # a deleted app's slug stays its owner's for this long (links to it cannot be taken over)
    slug_hold_days: float = Field(7.0, ge=0, le=365)
    # live log streams (SSE) one person may hold open at once, across every web process; an
    # open stream renews its claim every third of the lease (a dead process's claims lapse)
    log_streams_per_user: int = Field(5, ge=1, le=100)
    log_stream_lease_seconds: int = Field(60, ge=6, le=3600)
    # a VPS's browser console (vps/console): a console token's life (single use), the pings
    # that keep the socket open behind proxies and how long a silent peer is kept, how often
    # an open console re-checks its VPS (suspended, stopped, deleted, owner changed), the
    # console log tail replayed on connect, the output rate one console may send, and the
    # largest input frame
    console_token_seconds: int = Field(60, ge=5, le=60)
    console_ping_seconds: float = Field(30.0, ge=0.5, le=300)
    console_ping_timeout_seconds: float = Field(30.0, ge=0.5, le=300)
    console_watch_seconds: float = Field(2.0, ge=0.1, le=30)
    console_replay_bytes: int = Field(64 * 1024, ge=0, le=4 * 1024 * 1024)
    console_output_bytes_per_second: int = Field(256 * 1024, ge=1024, le=64 * 1024 * 1024)
    console_frame_max_bytes: int = Field(16 * 1024, ge=64, le=1024 * 1024)
    # an app's env vars: how many, and the bytes of their names and values together
    env_max_vars: int = Field(100, ge=1, le=1000)
    env_max_bytes: int = Field(64 * 1024, ge=1024, le=1024 * 1024)

    # this node: its name, ports, uids and sandbox
    node_name: str = Field(default_factory=socket.gethostname)
    port_min: int = Field(21000, ge=1024, le=65535)
    port_max: int = Field(21999, ge=1024, le=65535)
    uid_base: int = Field(200_000, ge=1000)
    # this node as the platform places apps on it (nodes/): where Traefik reaches its app
    # ports, and the memory and CPUs it offers apps (0: what the machine has)
    node_host: str = "127.0.0.1"
    # the address app ports are bound on (pasta): loopback when Traefik runs on this host, the
    # node's private address (DEPLOY_NODE_HOST) when Traefik reaches it from another host
    app_bind_address: IPv4Address = IPv4Address("127.0.0.1")
    # where Traefik reaches this node's deploy web process (http://<private address>:<port>):
    # Traefik sends the consoles of the node's VPSes there (their sockets are on its disk).
    # Unset: no web process here, and Traefik's deploy service must be on this node for them
    node_web_url: str | None = None
    node_memory_mb: int = Field(0, ge=0)
    node_cpus: int = Field(0, ge=0)
    # a node whose supervisor has been silent this long is down: its apps start elsewhere
    node_down_seconds: float = Field(60.0, ge=2, le=3600)
    # how app routes reach Traefik: "http", rows Traefik's HTTP provider polls from deploy's
    # web process (any number of nodes, on any hosts); "file", files in TRAEFIK_DYNAMIC_DIR
    # (one node whose Traefik shares its disk)
    route_provider: Literal["http", "file"] = "http"
    # when set, Traefik's HTTP provider must send it (`Authorization: Bearer <token>`)
    traefik_provider_token: SecretStr | None = None
    bwrap_path: str = "bwrap"
    # each sandbox gets its own network namespace served by pasta (Debian `passt`); see
    # sandbox/network.py. Without them nothing starts, unless an operator sets
    # DEPLOY_INSECURE_SHARED_NETWORK=true: then apps and builds share this host's network
    # (logged loudly at start, a red banner in the admin panel)
    pasta_path: str = "pasta"
    ip_path: str = "ip"
    insecure_shared_network: bool = False
    cgroup_root: Path = Path("/sys/fs/cgroup")
    cgroup_parent: str = "berth"
    # sandboxes have no route to these (nor to network.ALWAYS_BLOCKED, nor to this host's own
    # addresses and networks), and repository URLs may not point at them. With
    # DEPLOY_INSECURE_SHARED_NETWORK, an iptables chain (DEPLOY_FIREWALL) is all that is left.
    firewall: bool = True
    blocked_networks: list[str] = [
        "127.0.0.0/8",
        "10.0.0.0/8",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "169.254.0.0/16",
        "100.64.0.0/10",
        "::1/128",
        "fc00::/7",
        "fe80::/10",
    ]
    # containers (sandbox/images.py, oci_runtime.py): the registries images may come from,
    # a comma list of host[:port] (empty: none, so no container app can be made); those of
    # them reached over plain HTTP (a registry on loopback in tests); the Debian tools
    container_registries: str = ""
    container_insecure_registries: str = ""
    crun_path: str = "crun"
    skopeo_path: str = "skopeo"
    buildah_path: str = "buildah"
    image_pull_timeout_seconds: int = Field(600, ge=10, le=1800)
    image_max_bytes: int = Field(2 * 1024**3, ge=1024 * 1024)
    max_concurrent_builds: int = Field(2, ge=1, le=64)
    build_timeout_seconds: int = Field(600, ge=10, le=1200)
    build_memory_mb: int = Field(2048, ge=128)
    build_pids_max: int = Field(1024, ge=32)
    stop_grace_seconds: float = Field(10.0, ge=0.5, le=120)
    # after the route switched, in-flight requests to the old instance get this long
    drain_seconds: float = Field(1.0, ge=0, le=60)
    route_wait_seconds: float = Field(20.0, ge=1, le=120)
    releases_kept: int = Field(5, ge=2, le=50)

    # leases on long steps
    lease_seconds: int = Field(30, ge=3, le=600)
    heartbeat_seconds: float = Field(3.0, ge=0.2, le=60)
    max_attempts: int = Field(2, ge=1, le=10)

    # supervision of running instances
    supervise_interval_seconds: float = Field(1.0, ge=0.1, le=60)
    restart_backoff_seconds: float = Field(1.0, ge=0.1, le=60)
    restart_backoff_max_seconds: float = Field(60.0, ge=1, le=3600)
    crash_loop_threshold: int = Field(5, ge=2, le=100)
    crash_loop_window_seconds: int = Field(300, ge=10, le=86400)
    # the liveness endpoint trusts a node's instance rows while its supervisor ticked this
    # recently; past it the node's processes read "unknown" (nobody is watching them)
    liveness_stale_seconds: float = Field(10.0, ge=1, le=600)

    # VPSes: the plan catalog (vps/plans.py; JSON in DEPLOY_VPS_PLANS replaces it), how many
    # one person may have, the node's SSH port pool and the host people connect to, how long a
    # new or rebooted machine may take to answer SSH, snapshots kept per VPS
    vps_plans: list[dict[str, Any]] | None = None
    vps_max_per_owner: int = Field(3, ge=0, le=1000)
    vps_port_min: int = Field(22000, ge=1024, le=65535)
    vps_port_max: int = Field(22999, ge=1024, le=65535)
    vps_ssh_host: str = "127.0.0.1"
    # the address the VPSes' SSH forwards listen on: loopback when people reach SSH through a
    # forward of this host's own; the node's public address (or 0.0.0.0) when they connect
    # to the node directly (DEPLOY_VPS_SSH_HOST / DEPLOY_NODE_HOST then name it)
    vps_ssh_bind_address: IPv4Address = IPv4Address("127.0.0.1")
    vps_ssh_wait_seconds: float = Field(300.0, ge=5, le=1800)
    vps_stop_timeout_seconds: float = Field(60.0, ge=1, le=600)
    vps_snapshots_per_vps: int = Field(5, ge=0, le=100)

    @field_validator("node_name")
    @classmethod
    def _node_name(cls, value: str) -> str:
        # it names the node's queue (deploy.node.<name>) and shows in the admin panel
        if not NODE_NAME.fullmatch(value):
            raise ValueError("a node name is letters, digits, '.', '-' or '_' (up to 63)")
        return value

    @field_validator("data_dir", "traefik_dynamic_dir", "local_repos_dir", "git_dir")
    @classmethod
    def _absolute(cls, value: Path | None) -> Path | None:
        return value.resolve() if value is not None else None

    @property
    def allowed_registries(self) -> list[str]:
        return [r.strip().lower() for r in self.container_registries.split(",") if r.strip()]

    @property
    def insecure_registries(self) -> list[str]:
        return [
            r.strip().lower() for r in self.container_insecure_registries.split(",") if r.strip()
        ]

    @property
    def image_blobs_dir(self) -> Path:
        """The node's image store: every blob skopeo fetched, by digest, shared by releases."""
        return self.data_dir / "images" / "blobs"

    @property
    def hosted_repos_dir(self) -> Path:
        return self.git_dir or self.data_dir / "git"

    @property
    def uid_range(self) -> tuple[int, int]:
        return self.uid_base, self.uid_base + 9_999_999

    @property
    def entry_url(self) -> str:
        return (self.traefik_entry_url or self.public_url).rstrip("/")

    @property
    def step_time_limit(self) -> int:
        """Soft time limit of one operation task. The hard limit (+60 s) stays under
        RabbitMQ's 30-minute consumer_timeout, so Celery ends a runaway task before the
        broker drops the worker's channel; an operation cut short is reaped and retried."""
        return min(self.build_timeout_seconds + self.git_timeout_seconds + 600, 1620)


@lru_cache
def get_settings() -> DeploySettings:
    return DeploySettings()
