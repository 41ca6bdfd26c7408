"""The error table: every code has one HTTP status, gRPC status and retry advice."""

from __future__ import annotations

import grpc
import pytest

from comfyui_gateway import errors
from comfyui_gateway.errors import ERROR_TABLE, ErrorCode, GatewayError
from server.errors import error_trailers, grpc_code_for

# SPEC.md §3, row by row.
SPEC_HTTP = {
    ErrorCode.VALIDATION_ERROR: 400,
    ErrorCode.AUTH_FAILED: 401,
    ErrorCode.FORBIDDEN: 403,
    ErrorCode.WORKFLOW_NOT_FOUND: 404,
    ErrorCode.JOB_NOT_FOUND: 404,
    ErrorCode.OUTPUT_NOT_FOUND: 404,
    ErrorCode.CONFLICT: 409,
    ErrorCode.RATE_LIMITED: 429,
    ErrorCode.COMFYUI_UNREACHABLE: 503,
    ErrorCode.INTERNAL: 500,
}
SPEC_RETRYABLE = {
    ErrorCode.VALIDATION_ERROR: False,
    ErrorCode.AUTH_FAILED: False,
    ErrorCode.FORBIDDEN: False,
    ErrorCode.RATE_LIMITED: True,
    ErrorCode.COMFYUI_UNREACHABLE: True,
    ErrorCode.COMFYUI_OOM: False,
    ErrorCode.COMFYUI_NODE_ERROR: False,
}


def all_error_classes() -> list[type[GatewayError]]:
    found: list[type[GatewayError]] = []
    pending: list[type[GatewayError]] = [GatewayError]
    while pending:
        cls = pending.pop()
        found.append(cls)
        pending.extend(cls.__subclasses__())
    return found


def test_every_code_is_in_the_table() -> None:
    assert set(ERROR_TABLE) == set(ErrorCode)


@pytest.mark.parametrize(("code", "status"), SPEC_HTTP.items())
def test_http_status_follows_the_spec(code: ErrorCode, status: int) -> None:
    assert ERROR_TABLE[code].http_status == status


@pytest.mark.parametrize(("code", "retryable"), SPEC_RETRYABLE.items())
def test_retry_advice_follows_the_spec(code: ErrorCode, retryable: bool) -> None:
    assert ERROR_TABLE[code].retryable is retryable


@pytest.mark.parametrize("code", list(ErrorCode))
def test_grpc_status_names_exist(code: ErrorCode) -> None:
    assert grpc.StatusCode[ERROR_TABLE[code].grpc_status]


def test_each_class_is_documented_and_in_the_drawn_tree() -> None:
    tree = errors.__doc__ or ""
    for cls in all_error_classes():
        assert cls.__doc__ and cls.__doc__.startswith("Raised when"), cls.__name__
        if cls.code is not ErrorCode.INTERNAL or cls is GatewayError:
            assert cls.__name__ in tree, cls.__name__


def test_rest_body_is_the_documented_shape() -> None:
    error = errors.ValidationError("inputs.width: must be at most 2048", details=[{"field": "w"}])
    assert error.to_body() == {
        "error": "VALIDATION_ERROR",
        "message": "inputs.width: must be at most 2048",
        "details": [{"field": "w"}],
    }
    assert errors.JobNotFound().to_body() == {"error": "JOB_NOT_FOUND", "message": "Job not found"}


def test_job_error_shape_carries_retry_advice() -> None:
    assert errors.ComfyUIUnreachable().to_job_error() == {
        "code": "COMFYUI_UNREACHABLE",
        "message": "ComfyUI is not reachable",
        "retryable": True,
    }
    assert "Reduce" in errors.ComfyUIOutOfMemory().message


def test_default_messages_match_the_troubleshooting_guide() -> None:
    assert errors.AuthFailed().message == (
        "Authentication required. Provide X-API-Key header or Authorization: Bearer token."
    )
    assert errors.Forbidden().message == "Admin role required for this operation"


def test_trailers_carry_body_status_and_retry_after() -> None:
    limited = errors.RateLimited(retry_after_s=42)
    trailers = dict(error_trailers(limited, None))
    assert trailers["x-gw-http-status"] == "429"
    assert trailers["retry-after"] == "42"
    assert trailers["x-gw-error"] == '{"error":"RATE_LIMITED","message":"Too many requests"}'
    assert grpc_code_for(limited) is grpc.StatusCode.RESOURCE_EXHAUSTED


def test_trailers_are_ascii_even_for_unicode_messages() -> None:
    trailers = dict(error_trailers(errors.ValidationError("prompt: «é» ✓"), None))
    str(trailers["x-gw-error"]).encode("ascii")


def test_huge_error_bodies_are_cut_to_fit_grpc_metadata() -> None:
    from server.errors import MAX_BODY_BYTES

    error = errors.ValidationError("x" * 10_000, details=[{"field": f"f{i}"} for i in range(500)])
    body = str(dict(error_trailers(error, None))["x-gw-error"])
    assert len(body) <= MAX_BODY_BYTES
    assert body.startswith('{"error":"VALIDATION_ERROR","message":"xxx')
    assert body.endswith('(truncated)"}') or "truncated" in body


def test_readme_error_table_lists_every_code_with_its_status() -> None:
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    rows = [line for line in readme.splitlines() if line.startswith("| ") and "`" in line]
    for code, spec in ERROR_TABLE.items():
        assert any(f"`{code.value}`" in row and str(spec.http_status) in row for row in rows), code
