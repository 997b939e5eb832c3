"""NATS JetStream consumers feeding the rating engine. Arrives with [usage]."""
