/**
 * Upload a picture and run a workflow on it with the TypeScript gRPC client.
 *
 *   cd clients/typescript && npm ci && npm run build
 *   node dist/examples/typescript/upload.js <target> <workflowId> <picture.png> [outDir]
 */
import { readFileSync } from "node:fs";
import { GatewayClient } from "../../clients/typescript/src";

async function main(): Promise<void> {
  const [target = "localhost:50051", workflowId = "img2img_v1", picture = "photo.png", outDir = "."] =
    process.argv.slice(2);
  const gw = new GatewayClient({ target, apiKey: process.env.COMFYUI_API_KEY });
  try {
    const upload = await gw.upload(readFileSync(picture), "image/png");
    console.log(`upload ${upload.ref} ${upload.width}x${upload.height} ${upload.sha256}`);
    const job = await gw.generate(workflowId, {}, { images: { image: upload.ref } });
    for (const output of job.outputs) {
      const stored = output.url.split("/").pop() ?? output.filename;
      const size = await gw.download(job.jobId, stored, `${outDir}/${stored}`);
      console.log(`output ${stored} ${output.contentType} ${size} bytes`);
    }
  } finally {
    gw.close();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
