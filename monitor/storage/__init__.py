"""Vigie's SQLite storage."""

from monitor.storage.incidents import Incident, IncidentUpdate
from monitor.storage.store import ResultRow, Store

__all__ = ["Incident", "IncidentUpdate", "ResultRow", "Store"]
