/**
 * Retries with exponential backoff for UNAVAILABLE and RESOURCE_EXHAUSTED, unless the
 * gateway's code says a retry cannot help (COMFYUI_OOM, PAYLOAD_TOO_LARGE share that
 * status). A rate-limited call waits at least the `retry-after` the gateway sent; a
 * QUOTA_EXCEEDED or QUEUE_FULL whose `retry-after` is longer than `maxDelayMs` is raised
 * at once (a daily quota may free only in hours).
 * Job creation is safe to retry: the client always sends `metadata.requestId`.
 */
import { status as Status } from "@grpc/grpc-js";
import { GatewayError } from "./errors";

export interface RetryPolicy {
  /** Tries in total, the first included (1 disables retries). */
  attempts: number;
  /** Wait before the second try, in ms; doubles after each failure. */
  initialDelayMs: number;
  /** Upper bound of one wait, in ms. */
  maxDelayMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { attempts: 4, initialDelayMs: 200, maxDelayMs: 5000 };

const RETRYABLE = new Set<Status>([Status.UNAVAILABLE, Status.RESOURCE_EXHAUSTED]);
const NEVER_RETRIED = new Set(["COMFYUI_OOM", "PAYLOAD_TOO_LARGE"]);
const WAIT_BOUNDED = new Set(["QUOTA_EXCEEDED", "QUEUE_FULL"]);

export function shouldRetry(policy: RetryPolicy, error: GatewayError, attempt: number): boolean {
  if (attempt >= policy.attempts || error.grpcStatus === undefined) return false;
  if (WAIT_BOUNDED.has(error.code) && (error.retryAfterS ?? 0) * 1000 > policy.maxDelayMs) {
    return false;
  }
  return RETRYABLE.has(error.grpcStatus) && !NEVER_RETRIED.has(error.code);
}

export function delayMs(policy: RetryPolicy, error: GatewayError, attempt: number): number {
  const ceiling = Math.min(policy.maxDelayMs, policy.initialDelayMs * 2 ** (attempt - 1));
  const jittered = ceiling / 2 + Math.random() * (ceiling / 2);
  return Math.max(jittered, (error.retryAfterS ?? 0) * 1000);
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
