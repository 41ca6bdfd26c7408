/**
 * GatewayClient: the generated grpc-js stubs behind a small promise API.
 *
 *   const gw = new GatewayClient({ target: "localhost:50051", apiKey: "k" });
 *   const job = await gw.generate("icon_512", { prompt: "a fox" }, { onProgress: console.log });
 *
 * Progress comes from the server-streaming WatchJob RPC (`watch` is an async
 * iterator), never from polling. Credentials travel as `x-api-key` or
 * `authorization: Bearer` metadata, as over REST.
 */
import { createWriteStream } from "node:fs";
import { once } from "node:events";
import { randomUUID } from "node:crypto";
import {
  credentials as grpcCredentials,
  Metadata,
  type CallOptions,
  type ChannelCredentials,
  type ClientUnaryCall,
  type ServiceError,
} from "@grpc/grpc-js";
import { GatewayError, JobFailedError, fromServiceError } from "./errors";
import { DEFAULT_RETRY, delayMs, shouldRetry, sleep, type RetryPolicy } from "./retry";
import { GatewayServiceClient, type Capabilities, type Health } from "./gen/comfyui_gateway/v1/gateway";
import {
  JobServiceClient,
  type CancelJobResponse,
  type CreateJobResponse,
  type Job,
  type JobEvent,
  type ListJobsResponse,
  type LogEntry,
} from "./gen/comfyui_gateway/v1/jobs";
import { OutputServiceClient, type OutputFile } from "./gen/comfyui_gateway/v1/outputs";
import { UploadServiceClient, type Upload } from "./gen/comfyui_gateway/v1/uploads";

/** Size of the chunks an upload is streamed in. */
const UPLOAD_CHUNK_BYTES = 256 * 1024;

/**
 * A media input: a reference string the gateway fetches itself (base64, `data:` URL,
 * `http(s)://`, `s3://bucket/key`, `upload://<id>`) or local bytes, uploaded first.
 */
export type MediaSource = string | Uint8Array;

export interface ClientOptions {
  /** host:port of the gateway's gRPC server (GRPC_PORT). */
  target?: string;
  apiKey?: string;
  /** A JWT signed with the gateway's JWT_SECRET. */
  token?: string;
  /** TLS credentials; plaintext when omitted. */
  channelCredentials?: ChannelCredentials;
  /** Deadline of each unary call, in ms. */
  timeoutMs?: number;
  retry?: RetryPolicy;
}

export interface SubmitOptions {
  params?: Record<string, unknown>;
  priority?: "high" | "normal" | "low" | "";
  callbackUrl?: string;
  metadata?: Record<string, unknown>;
  /** Makes the submission idempotent; a random one is sent when omitted. */
  requestId?: string;
  /** Convert stored outputs: format "png" | "jpg" | "webp", quality 1-100. */
  outputFormat?: { format: "png" | "jpg" | "jpeg" | "webp"; quality?: number };
  /** Stream live "preview" events (small JPEG frames) on watch(). */
  previews?: boolean;
}

export interface GenerateOptions extends SubmitOptions {
  /** Called with every event of the job's progress stream. */
  onProgress?: (event: JobEvent) => void;
  /** Media inputs by field name (image, mask, file fields of the workflow). */
  images?: Record<string, MediaSource>;
}

export interface ListOptions {
  status?: string;
  workflowId?: string;
  after?: Date;
  before?: Date;
  limit?: number;
  offset?: number;
}

type Callback<Res> = (error: ServiceError | null, response: Res) => void;
type UnaryMethod<Req, Res> = (
  request: Req,
  metadata: Metadata,
  options: Partial<CallOptions>,
  callback: Callback<Res>,
) => ClientUnaryCall;

export class GatewayClient {
  readonly gateway: GatewayServiceClient;
  readonly jobs: JobServiceClient;
  readonly outputsService: OutputServiceClient;
  readonly uploads: UploadServiceClient;
  private readonly metadata: Metadata;
  private readonly timeoutMs: number;
  private readonly retry: RetryPolicy;

  constructor(options: ClientOptions = {}) {
    const target = options.target ?? "localhost:50051";
    const creds = options.channelCredentials ?? grpcCredentials.createInsecure();
    this.gateway = new GatewayServiceClient(target, creds);
    this.jobs = new JobServiceClient(target, creds);
    this.outputsService = new OutputServiceClient(target, creds);
    this.uploads = new UploadServiceClient(target, creds);
    if (options.apiKey && options.token) throw new Error("give an API key or a token, not both");
    this.metadata = new Metadata();
    if (options.apiKey) this.metadata.set("x-api-key", options.apiKey);
    if (options.token) this.metadata.set("authorization", `Bearer ${options.token}`);
    this.timeoutMs = options.timeoutMs ?? 30_000;
    this.retry = options.retry ?? DEFAULT_RETRY;
  }

  close(): void {
    this.gateway.close();
    this.jobs.close();
    this.outputsService.close();
    this.uploads.close();
  }

  private async call<Req, Res>(method: UnaryMethod<Req, Res>, request: Req): Promise<Res> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await new Promise<Res>((resolve, reject) => {
          const deadline = new Date(Date.now() + this.timeoutMs);
          method(request, this.metadata, { deadline }, (error, response) =>
            error ? reject(fromServiceError(error)) : resolve(response),
          );
        });
      } catch (error) {
        if (!(error instanceof GatewayError) || !shouldRetry(this.retry, error, attempt)) throw error;
        await sleep(delayMs(this.retry, error, attempt));
      }
    }
  }

  health(): Promise<Health> {
    return this.call(this.gateway.getHealth.bind(this.gateway), {});
  }

  capabilities(): Promise<Capabilities> {
    return this.call(this.gateway.getCapabilities.bind(this.gateway), {});
  }

  /** Queue a job: status "queued", or "cache_hit" with its outputs already there. */
  submit(workflowId: string, inputs: Record<string, unknown>, options: SubmitOptions = {}): Promise<CreateJobResponse> {
    const metadata = { ...(options.metadata ?? {}) };
    metadata.requestId ??= options.requestId ?? randomUUID();
    return this.call(this.jobs.createJob.bind(this.jobs), {
      workflowId,
      inputs,
      params: options.params,
      priority: options.priority ?? "",
      callbackUrl: options.callbackUrl ?? "",
      metadata,
      outputFormat: options.outputFormat
        ? { format: options.outputFormat.format, quality: options.outputFormat.quality ?? 0 }
        : undefined,
      previews: options.previews ?? false,
      outputEncoding: "",
    });
  }

  get(jobId: string): Promise<Job> {
    return this.call(this.jobs.getJob.bind(this.jobs), { jobId });
  }

  list(options: ListOptions = {}): Promise<ListJobsResponse> {
    return this.call(this.jobs.listJobs.bind(this.jobs), {
      status: options.status ?? "",
      workflowId: options.workflowId ?? "",
      after: options.after,
      before: options.before,
      limit: options.limit ?? 0,
      offset: options.offset ?? 0,
    });
  }

  /** Remove a finished job with its files (409 CONFLICT while queued or running). */
  async delete(jobId: string): Promise<void> {
    await this.call(this.jobs.deleteJob.bind(this.jobs), { jobId });
  }

  cancel(jobId: string): Promise<CancelJobResponse> {
    return this.call(this.jobs.cancelJob.bind(this.jobs), { jobId });
  }

  async logs(jobId: string): Promise<LogEntry[]> {
    return (await this.call(this.jobs.getJobLogs.bind(this.jobs), { jobId })).logs;
  }

  async outputs(jobId: string): Promise<OutputFile[]> {
    return (await this.call(this.outputsService.listOutputs.bind(this.outputsService), { jobId })).files;
  }

  /**
   * The job's progress events: current state first, then live ones, ending with the
   * terminal event. A dropped stream is reopened under the retry policy; the gateway
   * starts again from the current state, so nothing is missed.
   */
  async *watch(jobId: string): AsyncGenerator<JobEvent> {
    for (let attempt = 1; ; attempt++) {
      const stream = this.jobs.watchJob({ jobId }, this.metadata);
      try {
        for await (const event of stream as AsyncIterable<JobEvent>) {
          attempt = 1;
          yield event;
          if (event.type === "terminal") return;
        }
        return;
      } catch (raw) {
        const error = raw instanceof GatewayError ? raw : fromServiceError(raw as ServiceError);
        if (!shouldRetry(this.retry, error, attempt)) throw error;
        await sleep(delayMs(this.retry, error, attempt));
      } finally {
        stream.cancel();
      }
    }
  }

  /**
   * Upload a file for a media input (streamed in chunks, content type on the first);
   * put the answer's `ref` (`upload://...`) in a job's inputs.
   */
  async upload(data: Uint8Array, contentType = "application/octet-stream"): Promise<Upload> {
    try {
      return await new Promise<Upload>((resolve, reject) => {
        const deadline = new Date(Date.now() + this.timeoutMs);
        const call = this.uploads.createUpload(this.metadata, { deadline }, (error, response) =>
          error ? reject(error) : resolve(response),
        );
        let offset = 0;
        do {
          const chunk = Buffer.from(data.subarray(offset, offset + UPLOAD_CHUNK_BYTES));
          call.write({ contentType: offset === 0 ? contentType : "", data: chunk, extensions: [] });
          offset += UPLOAD_CHUNK_BYTES;
        } while (offset < data.length);
        call.end();
      });
    } catch (raw) {
      throw raw instanceof GatewayError ? raw : fromServiceError(raw as ServiceError);
    }
  }

  /** Submit, follow the progress stream to its end, return the finished job. */
  async generate(workflowId: string, inputs: Record<string, unknown>, options: GenerateOptions = {}): Promise<Job> {
    const values: Record<string, unknown> = { ...inputs };
    for (const [name, source] of Object.entries(options.images ?? {})) {
      values[name] = typeof source === "string" ? source : (await this.upload(source)).ref;
    }
    const created = await this.submit(workflowId, values, options);
    if (created.status !== "cache_hit") {
      for await (const event of this.watch(created.jobId)) options.onProgress?.(event);
    }
    const job = await this.get(created.jobId);
    if (job.status !== "succeeded") {
      const code = job.error?.code || job.status.toUpperCase();
      throw new JobFailedError(code, `job ${job.jobId} ${job.status}: ${job.error?.message ?? ""}`, job);
    }
    return job;
  }

  /**
   * Stream one output (stored or ComfyUI name) to a file; resolves to the byte count.
   * `convert` ("jpg", "webp", "png", with `quality`) re-encodes a still image on the way.
   */
  async download(
    jobId: string,
    filename: string,
    path: string,
    options: { convert?: "png" | "jpg" | "jpeg" | "webp"; quality?: number } = {},
  ): Promise<number> {
    const file = createWriteStream(path);
    let size = 0;
    try {
      const stream = this.outputsService.downloadOutput(
        { jobId, filename, format: "", convert: options.convert ?? "", quality: options.quality ?? 0 },
        this.metadata,
      );
      for await (const chunk of stream as AsyncIterable<{ data: Uint8Array }>) {
        size += chunk.data.length;
        if (!file.write(chunk.data)) await once(file, "drain");
      }
    } catch (raw) {
      throw raw instanceof GatewayError ? raw : fromServiceError(raw as ServiceError);
    } finally {
      file.end();
      await once(file, "close");
    }
    return size;
  }
}
