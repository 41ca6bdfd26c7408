/** Unit tests of the hand-written layer: error decoding and retry decisions. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { Metadata, status, type ServiceError } from "@grpc/grpc-js";
import { GatewayError, fromServiceError } from "../src/errors";
import { DEFAULT_RETRY, delayMs, shouldRetry } from "../src/retry";

function serviceError(code: status, trailers: Record<string, string>): ServiceError {
  const metadata = new Metadata();
  for (const [key, value] of Object.entries(trailers)) metadata.set(key, value);
  return Object.assign(new Error("rpc failed"), { code, details: "rpc failed", metadata });
}

test("the x-gw-error trailer gives the gateway's code, message and details", () => {
  const body = { error: "VALIDATION_ERROR", message: "Invalid inputs", details: [{ field: "inputs.prompt" }] };
  const error = fromServiceError(serviceError(status.INVALID_ARGUMENT, { "x-gw-error": JSON.stringify(body) }));
  assert.equal(error.code, "VALIDATION_ERROR");
  assert.equal(error.message, "VALIDATION_ERROR: Invalid inputs");
  assert.deepEqual(error.details, [{ field: "inputs.prompt" }]);
  assert.equal(error.grpcStatus, status.INVALID_ARGUMENT);
});

test("without a trailer the status decides", () => {
  assert.equal(fromServiceError(serviceError(status.UNAVAILABLE, {})).code, "UNAVAILABLE");
  assert.equal(fromServiceError(serviceError(status.INTERNAL, {})).code, "INTERNAL");
});

test("rate limits are retried no sooner than retry-after; OOM never", () => {
  const limited = fromServiceError(
    serviceError(status.RESOURCE_EXHAUSTED, {
      "x-gw-error": JSON.stringify({ error: "RATE_LIMITED", message: "slow down" }),
      "retry-after": "3",
    }),
  );
  assert.ok(shouldRetry(DEFAULT_RETRY, limited, 1));
  assert.ok(delayMs(DEFAULT_RETRY, limited, 1) >= 3000);
  assert.ok(!shouldRetry(DEFAULT_RETRY, limited, DEFAULT_RETRY.attempts));
  const oom = new GatewayError("COMFYUI_OOM", "reduce size", status.RESOURCE_EXHAUSTED);
  assert.ok(!shouldRetry(DEFAULT_RETRY, oom, 1));
  const invalid = new GatewayError("VALIDATION_ERROR", "bad", status.INVALID_ARGUMENT);
  assert.ok(!shouldRetry(DEFAULT_RETRY, invalid, 1));
});

test("a quota or full queue is retried only when its retry-after fits the policy", () => {
  const refusal = (code: string, retryAfter: string) =>
    fromServiceError(
      serviceError(status.RESOURCE_EXHAUSTED, {
        "x-gw-error": JSON.stringify({ error: code, message: "later" }),
        "retry-after": retryAfter,
      }),
    );
  const soon = refusal("QUEUE_FULL", "2");
  assert.equal(soon.retryAfterS, 2);
  assert.ok(shouldRetry(DEFAULT_RETRY, soon, 1));
  assert.ok(delayMs(DEFAULT_RETRY, soon, 1) >= 2000);
  assert.ok(!shouldRetry(DEFAULT_RETRY, refusal("QUOTA_EXCEEDED", "86000"), 1));
});
