"""Which implementation serves each service of the contract."""

from __future__ import annotations

from server.app import Services
from server.deps import ServerDeps
from server.services.gateway import GatewayService
from server.services.unimplemented import PendingJobService, PendingOutputService
from server.services.workflows import WorkflowService


def build_services(deps: ServerDeps) -> Services:
    return Services(
        gateway=GatewayService(deps),
        workflows=WorkflowService(deps),
        jobs=PendingJobService(),
        outputs=PendingOutputService(),
    )
