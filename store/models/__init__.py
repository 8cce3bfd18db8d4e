"""All SQL tables, one module per domain. Importing this package registers every table."""
from store.models.core import (  # noqa: F401
    ApiKey,
    AuditEntry,
    QaCount,
    QuarantinedObservation,
    Rollup,
    Sensor,
    User,
)

# Domain modules register themselves here as they land (alerts, actuation, reports).
import importlib as _importlib

for _name in ("alerts", "actuation", "reports", "feeds"):
    try:
        _importlib.import_module(f"store.models.{_name}")
    except ModuleNotFoundError as _exc:  # a domain not built yet
        if _exc.name != f"store.models.{_name}":
            raise
