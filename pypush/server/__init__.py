"""The local ECR Public endpoint (`pypush serve`): AWS JSON 1.1 push API plus the v2 read API."""
from __future__ import annotations

from .app import LocalEndpoint
from .limits import FaultPlan

__all__ = ["LocalEndpoint", "FaultPlan"]
