// Drives the vendored, unmodified comfyui-client.ts against a live gateway and prints
// what each call returned as one JSON line per step (read by
// tests/clients/test_reference_typescript.py). Not part of the description.
import { ComfyUIGateway } from "./comfyui-client";

declare const process: { argv: string[]; exitCode?: number };

async function run(): Promise<void> {
  const gw = new ComfyUIGateway({ baseUrl: process.argv[2], apiKey: "any-key" });
  const say = (step: string, value: unknown) => console.log(JSON.stringify({ step, value }));

  say("health", await gw.health());
  say("capabilities", await gw.capabilities());
  say("workflows", await gw.listWorkflows());
  say("workflow", await gw.getWorkflow("icon_512"));
  const seen: string[] = [];
  const result = await gw.generate(
    "icon_512",
    { prompt: "a lighthouse", width: 64, height: 64, steps: 20 },
    { pollIntervalMs: 100, onProgress: (progress, status) => seen.push(`${status}:${progress}`) },
  );
  say("generate", { result, seen });
  say("outputs", await gw.listOutputs(result.jobId));
  const first = result.outputs![0];
  say("base64", await gw.getOutputBase64(result.jobId, first.filename));
  const blob = await gw.downloadOutput(result.jobId, first.filename);
  say("download", { size: blob.size, type: blob.type });
  say("jobs", await gw.listJobs({ status: "succeeded", limit: 5 }));
  const queued = await gw.submitJob({ workflowId: "icon_512", inputs: { prompt: "slow", steps: 150 } });
  say("submit", queued);
  say("cancel", await gw.cancelJob(queued.jobId));
  say("job", await gw.getJob(queued.jobId));
  try {
    await gw.getJob("00000000-0000-0000-0000-000000000000");
    say("missing", null);
  } catch (error) {
    say("missing", String(error));
  }
}

run().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
