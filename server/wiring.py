"""Which implementation serves each service of the contract."""

from __future__ import annotations

from comfyui_gateway.jobs.cancellation import JobCanceller
from comfyui_gateway.jobs.deletion import JobDeleter
from comfyui_gateway.jobs.submission import JobSubmitter, SubmissionOptions
from comfyui_gateway.media.setup import build_fetcher, build_resolver, media_limits
from comfyui_gateway.media.uploads import UploadCreator
from comfyui_gateway.metrics import MetricSources
from comfyui_gateway.privacy import Privacy
from comfyui_gateway.workflows.choices import CatalogueSource
from comfyui_gateway.workflows.inputs import InputLimits
from server.app import Services
from server.deps import ServerDeps
from server.services.audit import AuditService
from server.services.console import ConsoleService
from server.services.gateway import GatewayService
from server.services.jobs import JobService
from server.services.metrics import MetricsService
from server.services.outputs import OutputService
from server.services.uploads import UploadService
from server.services.workflows import WorkflowService


def build_services(deps: ServerDeps) -> Services:
    settings = deps.settings
    limits = InputLimits(
        settings.MAX_IMAGE_SIZE, settings.MAX_BATCH_SIZE, settings.MAX_INPUT_STRING_CHARS
    )
    fetcher = deps.media_fetcher or build_fetcher(settings)
    resolver = build_resolver(settings, deps.storage, fetcher)
    return Services(
        gateway=GatewayService(deps),
        workflows=WorkflowService(deps),
        jobs=JobService(
            deps,
            JobSubmitter(
                deps.sessions,
                deps.queue,
                limits,
                privacy=Privacy.from_settings(deps.settings),
                options=SubmissionOptions(
                    cache_enabled=deps.settings.CACHE_ENABLED,
                    allowed_callback_domains=tuple(deps.settings.WEBHOOK_ALLOWED_DOMAINS),
                    max_metadata_bytes=settings.MAX_METADATA_BYTES,
                ),
                catalogue=CatalogueSource(deps.backend_reports, settings.comfyui_urls),
                media=resolver,
                workflows=deps.recent_workflows,
                admission=deps.job_admission,
            ),
            JobCanceller(deps.sessions, deps.queue, deps.bus),
            JobDeleter(deps.sessions, deps.storage),
        ),
        outputs=OutputService(deps, deps.storage),
        uploads=UploadService(
            deps,
            UploadCreator(deps.sessions, resolver.store, media_limits(deps.settings).image),
        ),
        audit=AuditService(deps),
        metrics=MetricsService(
            MetricSources(
                sessions=deps.sessions,
                queue=deps.queue,
                reports=deps.backend_reports,
                counters=deps.counters,
                backends=tuple(deps.settings.comfyui_urls),
            )
        ),
        console=ConsoleService(deps),
    )
