/**
 * Generate an image with the TypeScript gRPC client, printing each progress event.
 *
 *   cd clients/typescript && npm ci
 *   npm run example -- [target] [outDir]
 */
import { GatewayClient, type JobEvent } from "../../clients/typescript/src";

function show(event: JobEvent): void {
  const step = event.maxSteps ? ` step ${event.step}/${event.maxSteps}` : "";
  console.log(`event ${event.type.padEnd(8)} ${event.status.padEnd(9)} ${event.progress.toFixed(1).padStart(5)}%${step}`);
}

async function main(): Promise<void> {
  const target = process.argv[2] ?? process.env.GATEWAY_GRPC ?? "localhost:50051";
  const outDir = process.argv[3] ?? ".";
  const gw = new GatewayClient({ target, apiKey: process.env.COMFYUI_API_KEY });
  try {
    const inputs = { prompt: "a lighthouse at dusk", width: 64, height: 64, steps: 20 };
    const job = await gw.generate("sdxl_realism_v1", inputs, { onProgress: show });
    for (const output of job.outputs) {
      const stored = output.url.split("/").pop() ?? output.filename;
      const size = await gw.download(job.jobId, stored, `${outDir}/${stored}`);
      console.log(`output ${output.filename} ${output.contentType} ${size} bytes ${output.sha256}`);
    }
  } finally {
    gw.close();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
