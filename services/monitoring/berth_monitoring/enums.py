"""Monitoring's kinds and states, each a StrEnum stored as its value."""

from enum import StrEnum


class MonitorKind(StrEnum):
    HTTP = "http"  # a user's URL: status, keyword or JSON-path condition, certificate expiry
    TCP = "tcp"  # a user's host:port accepts a connection
    HEARTBEAT = "heartbeat"  # a user's job calls a secret push URL; silence is the failure
    APP_HTTP = "app_http"  # the platform's: a web app's health path through its Traefik route
    APP_PROCESS = "app_process"  # the platform's: a worker or bot's process liveness (deploy)
    # the platform's: a VPS's SSH answers (TCP, its banner) and its machine runs (deploy)
    VPS = "vps"


PLATFORM_KINDS = frozenset({MonitorKind.APP_HTTP, MonitorKind.APP_PROCESS, MonitorKind.VPS})


class MonitorState(StrEnum):
    """up → pending → down → recovering → up; `unknown` until the first result."""

    UNKNOWN = "unknown"
    UP = "up"
    PENDING = "pending"  # failing, fewer than failure_threshold times in a row
    DOWN = "down"
    RECOVERING = "recovering"  # succeeding after down, fewer than success_threshold times


class Suppression(StrEnum):
    """Why a monitor is not checked at all: its app is not meant to be running."""

    PAUSED = "paused"  # its owner paused the monitor
    APP_STOPPED = "app_stopped"  # the owner stopped the app
    APP_SUSPENDED = "app_suspended"  # billing suspended the account


class MuteReason(StrEnum):
    """Why a monitor is checked but pages nobody for now."""

    DEPLOY = "deploy"
    MAINTENANCE = "maintenance"


class ErrorKind(StrEnum):
    TIMEOUT = "timeout"
    DNS = "dns"
    REFUSED_TARGET = "refused_target"  # resolved to an address user monitors may not reach
    CONNECT = "connect"
    TLS = "tls"
    CERT_EXPIRING = "cert_expiring"
    STATUS = "status"
    KEYWORD = "keyword"
    JSON_PATH = "json_path"
    NO_HEARTBEAT = "no_heartbeat"
    PROCESS_DOWN = "process_down"
    ERROR = "error"


class IncidentStatus(StrEnum):
    OPEN = "open"
    RESOLVED = "resolved"


class IncidentEventKind(StrEnum):
    OPENED = "opened"
    MONITOR_DOWN = "monitor_down"
    MONITOR_UP = "monitor_up"
    FLAPPING = "flapping"
    ALERT_SENT = "alert_sent"
    ALERT_FAILED = "alert_failed"
    RESOLVED = "resolved"


class ChannelKind(StrEnum):
    EMAIL = "email"
    WEBHOOK = "webhook"  # JSON POST signed with the channel's secret
    TELEGRAM = "telegram"  # a webhook preset: Bot API sendMessage


class NotificationEvent(StrEnum):
    DOWN = "down"
    RECOVERED = "recovered"
    REMINDER = "reminder"  # still down, resent every monitor.resend_minutes
    TEST = "test"
    QUEUE_BREACH = "queue_breach"
    QUEUE_RECOVERED = "queue_recovered"


class SubjectKind(StrEnum):
    MONITOR = "monitor"
    QUEUE = "queue"
    CHANNEL = "channel"  # a channel's test message


class NotificationStatus(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"
