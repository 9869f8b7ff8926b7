"""Agent conversations: a customer and one of their own deployed ai-agent apps."""
