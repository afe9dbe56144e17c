"""Vigie's alerts: channels, the durable outbox and its delivery."""
