"""Berth chat: live chat with support and with one's own AI agents. PostgreSQL holds every
message with a per-conversation sequence number; web replicas fan messages out over RabbitMQ."""
