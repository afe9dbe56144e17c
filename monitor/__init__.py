"""Vigie: probes the tiers-payant operators, judges their health and remembers it."""

__version__ = "0.1.0"
