"""Chat's kinds and states, each a StrEnum stored as its value."""

from enum import StrEnum


class ConversationKind(StrEnum):
    SUPPORT = "support"  # a customer and the support desk (a bot first, then a human)
    AGENT = "agent"  # a customer and one of their own deployed ai-agent apps


class ConversationState(StrEnum):
    """The handoff state machine: bot → human (a staff member took it) → bot (released);
    any → closed. While human, nothing from a bot or agent is accepted."""

    BOT = "bot"
    HUMAN = "human"
    CLOSED = "closed"


class SenderKind(StrEnum):
    CUSTOMER = "customer"
    STAFF = "staff"
    AGENT = "agent"  # an ai-agent app's (or the support bot's) answer
    SYSTEM = "system"  # the platform's notices (agent down, handoff, closed)


class MessageStatus(StrEnum):
    COMPLETE = "complete"
    STREAMING = "streaming"  # an agent's answer still arriving
    FAILED = "failed"  # an agent's answer that broke off


class AgentRequestStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    REFUSED = "refused"  # the conversation was handed to a human before the answer came
