"""Every metric the gateway exposes: name, type, labels and meaning, in one place.

Names follow Prometheus conventions (``comfyui_gateway_`` prefix, base units in the
name, ``_total`` for counters, which the exposition adds). Label values are bounded:
``workflow`` by the registered workflows, ``status`` and ``priority`` by their enums,
``backend`` by the configured COMFYUI_URLs, ``model`` by the model files installed on
the backends, ``code`` by the error table,
``outcome``/``reason`` by the fixed sets below. The README's observability section is
written from this table.
"""

from __future__ import annotations

from dataclasses import dataclass

PREFIX = "comfyui_gateway"


@dataclass(frozen=True)
class MetricSpec:
    name: str
    kind: str  # counter | gauge | histogram
    help: str
    labels: tuple[str, ...] = ()


INFO = MetricSpec(f"{PREFIX}_info", "gauge", "Gateway build information (always 1).", ("version",))
JOBS_CREATED = MetricSpec(
    f"{PREFIX}_jobs_created",
    "counter",
    "Jobs accepted, cache hits included, by workflow.",
    ("workflow",),
)
JOBS_FINISHED = MetricSpec(
    f"{PREFIX}_jobs_finished",
    "counter",
    "Jobs that reached a terminal status, by workflow and status.",
    ("workflow", "status"),
)
JOBS_ACTIVE = MetricSpec(
    f"{PREFIX}_jobs_active", "gauge", "Jobs queued or running now, by status.", ("status",)
)
QUEUE_DEPTH = MetricSpec(
    f"{PREFIX}_queue_depth",
    "gauge",
    "Job ids waiting in the work queue (RQ or in-process), by priority.",
    ("priority",),
)
QUEUE_OLDEST_AGE = MetricSpec(
    f"{PREFIX}_queue_oldest_job_age_seconds",
    "gauge",
    "Age of the oldest queued job (0 when none waits), by priority.",
    ("priority",),
)
MODEL_QUEUE_DEPTH = MetricSpec(
    f"{PREFIX}_model_queue_depth",
    "gauge",
    "Queued jobs that load the model (checkpoint, LoRA, VAE, ...; 'none' for jobs that "
    "load none; a job counts under each of its models): the autoscaling signal.",
    ("model",),
)
MODEL_QUEUE_OLDEST_AGE = MetricSpec(
    f"{PREFIX}_model_queue_oldest_job_age_seconds",
    "gauge",
    "Age of the oldest queued job that loads the model (series only while one waits).",
    ("model",),
)
JOB_DURATION = MetricSpec(
    f"{PREFIX}_job_duration_seconds",
    "histogram",
    "Time from acceptance to a terminal status of jobs that ran (not cache hits).",
    ("workflow", "status"),
)
QUEUE_WAIT = MetricSpec(
    f"{PREFIX}_job_queue_wait_seconds",
    "histogram",
    "Time jobs waited between being queued and a worker starting them.",
    ("priority",),
)
COMFYUI_EXECUTION = MetricSpec(
    f"{PREFIX}_comfyui_execution_seconds",
    "histogram",
    "Time succeeded jobs spent on their ComfyUI backend (prompt to stored outputs).",
    ("workflow", "backend"),
)
BACKEND_UP = MetricSpec(
    f"{PREFIX}_backend_up",
    "gauge",
    "1 when a worker reported the ComfyUI backend reachable within the report TTL.",
    ("backend",),
)
BACKEND_BUSY = MetricSpec(
    f"{PREFIX}_backend_busy",
    "gauge",
    "1 when the backend runs a job or has prompts in its own queue.",
    ("backend",),
)
BACKEND_QUEUE_DEPTH = MetricSpec(
    f"{PREFIX}_backend_queue_depth",
    "gauge",
    "Prompts in the backend's own ComfyUI queue, as its worker last reported.",
    ("backend",),
)
BACKEND_RUNNING = MetricSpec(
    f"{PREFIX}_backend_running_jobs", "gauge", "Jobs running on the backend now.", ("backend",)
)
CACHE_LOOKUPS = MetricSpec(
    f"{PREFIX}_cache_lookups", "counter", "Cacheable job requests (fixed seed, cache on)."
)
CACHE_HITS = MetricSpec(
    f"{PREFIX}_cache_hits", "counter", "Job requests answered from the cache (no GPU work)."
)
CACHE_HIT_RATIO = MetricSpec(
    f"{PREFIX}_cache_hit_ratio", "gauge", "cache_hits_total / cache_lookups_total (0 when none)."
)
WEBHOOK_DELIVERIES = MetricSpec(
    f"{PREFIX}_webhook_deliveries",
    "counter",
    "Webhook POST attempts by outcome (delivered: 2xx; failed: error or non-2xx).",
    ("outcome",),
)
WEBHOOK_PENDING = MetricSpec(
    f"{PREFIX}_webhook_deliveries_pending",
    "gauge",
    "Webhook attempts scheduled and not yet made (first tries and retries).",
)
RATE_LIMIT_REJECTIONS = MetricSpec(
    f"{PREFIX}_rate_limit_rejections",
    "counter",
    "Requests refused with 429 RATE_LIMITED.",
)
AUTH_FAILURES = MetricSpec(
    f"{PREFIX}_auth_failures",
    "counter",
    "Requests refused for credentials: 401 (reason unauthenticated) or 403 (forbidden).",
    ("reason",),
)
JOBS_FAILED = MetricSpec(
    f"{PREFIX}_jobs_failed",
    "counter",
    "Jobs that ended failed, by workflow and error code (the SPEC error table's codes).",
    ("workflow", "code"),
)
ADMISSION_REJECTIONS = MetricSpec(
    f"{PREFIX}_admission_rejections",
    "counter",
    "Job creations refused before anything was stored: reason quota_active or "
    "quota_daily (429 QUOTA_EXCEEDED), queue_full (503 QUEUE_FULL).",
    ("reason",),
)

ALL: tuple[MetricSpec, ...] = (
    INFO,
    JOBS_CREATED,
    JOBS_FINISHED,
    JOBS_ACTIVE,
    QUEUE_DEPTH,
    QUEUE_OLDEST_AGE,
    MODEL_QUEUE_DEPTH,
    MODEL_QUEUE_OLDEST_AGE,
    JOB_DURATION,
    QUEUE_WAIT,
    COMFYUI_EXECUTION,
    BACKEND_UP,
    BACKEND_BUSY,
    BACKEND_QUEUE_DEPTH,
    BACKEND_RUNNING,
    CACHE_LOOKUPS,
    CACHE_HITS,
    CACHE_HIT_RATIO,
    WEBHOOK_DELIVERIES,
    WEBHOOK_PENDING,
    RATE_LIMIT_REJECTIONS,
    AUTH_FAILURES,
    JOBS_FAILED,
    ADMISSION_REJECTIONS,
)

DURATION_BUCKETS_S: tuple[float, ...] = (0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300, 600, 1800)
"""Image generation takes seconds to minutes; 30 min is past any sane COMFYUI_TIMEOUT_MS."""
WAIT_BUCKETS_S: tuple[float, ...] = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900)
"""Queue waits from 'a slot was free' to 'the GPUs are saturated'."""
