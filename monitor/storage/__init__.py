"""Vigie's SQLite storage."""

from monitor.storage.history import EtaRecord
from monitor.storage.incidents import Incident, IncidentUpdate
from monitor.storage.maintenances import Maintenance
from monitor.storage.retention import RetentionPolicy
from monitor.storage.store import ResultRow, Store

__all__ = ["EtaRecord", "Incident", "IncidentUpdate", "Maintenance", "ResultRow", "RetentionPolicy", "Store"]
