/** ComfyUI Gateway client for Node: generated gRPC stubs plus a small typed layer. */
export {
  GatewayClient,
  type ClientOptions,
  type GenerateOptions,
  type ListOptions,
  type MediaSource,
  type SubmitOptions,
} from "./client";
export { GatewayError, JobFailedError, fromServiceError } from "./errors";
export { DEFAULT_RETRY, type RetryPolicy } from "./retry";
export type { Job, JobEvent, CreateJobResponse } from "./gen/comfyui_gateway/v1/jobs";
export type { Output, JobError } from "./gen/comfyui_gateway/v1/common";
export type { OutputFile } from "./gen/comfyui_gateway/v1/outputs";
export type { Upload } from "./gen/comfyui_gateway/v1/uploads";
