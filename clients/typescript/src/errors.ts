/**
 * Typed errors carrying the gateway's codes.
 *
 * The gateway aborts a failed call with a gRPC status and the documented REST body
 * `{"error": CODE, "message": ...}` in the `x-gw-error` trailer; `fromServiceError`
 * turns a grpc-js ServiceError into a GatewayError whose `code` is that CODE, so
 * callers branch on `err.code === "JOB_NOT_FOUND"` rather than on status numbers.
 */
import { status as Status, type ServiceError } from "@grpc/grpc-js";

export class GatewayError extends Error {
  constructor(
    /** The gateway's code (VALIDATION_ERROR, JOB_NOT_FOUND, RATE_LIMITED, ...). */
    readonly code: string,
    message: string,
    /** The gRPC status, when the error came from a call. */
    readonly grpcStatus?: Status,
    /** Failing fields or ComfyUI's report, when the gateway sent them. */
    readonly details?: unknown,
    /** Seconds the gateway asked to wait (RATE_LIMITED, QUOTA_EXCEEDED, QUEUE_FULL). */
    readonly retryAfterS?: number,
  ) {
    super(`${code}: ${message}`);
    this.name = "GatewayError";
  }
}

/** Raised by `generate` when the job ends failed or cancelled; `job` is its record. */
export class JobFailedError extends GatewayError {
  constructor(
    code: string,
    message: string,
    readonly job: unknown,
  ) {
    super(code, message);
    this.name = "JobFailedError";
  }
}

const BY_STATUS: Partial<Record<Status, string>> = {
  [Status.UNAVAILABLE]: "UNAVAILABLE",
  [Status.UNAUTHENTICATED]: "AUTH_FAILED",
  [Status.PERMISSION_DENIED]: "FORBIDDEN",
  [Status.NOT_FOUND]: "NOT_FOUND",
  [Status.INVALID_ARGUMENT]: "VALIDATION_ERROR",
  [Status.ALREADY_EXISTS]: "CONFLICT",
  [Status.RESOURCE_EXHAUSTED]: "RATE_LIMITED",
};

export function fromServiceError(error: ServiceError): GatewayError {
  const raw = error.metadata?.get("x-gw-error")[0];
  let body: { error?: string; message?: string; details?: unknown } = {};
  if (typeof raw === "string") {
    try {
      body = JSON.parse(raw) as typeof body;
    } catch {
      body = {};
    }
  }
  const retryAfter = Number(error.metadata?.get("retry-after")[0] ?? Number.NaN);
  return new GatewayError(
    body.error ?? BY_STATUS[error.code] ?? "INTERNAL",
    body.message ?? error.details ?? error.message,
    error.code,
    body.details,
    Number.isFinite(retryAfter) ? retryAfter : undefined,
  );
}
