// One job: status, a live progress bar with node/step text from its event stream,
// preview frames when they come, then the outputs as a gallery with downloads, the
// logs, and the error (code and message) of a failed job. Cancel while it runs.

import { api, ApiError, streamEvents } from "/ui/js/api.js";
import { announce, errorText, h, replace, statusBadge, timeElement } from "/ui/js/dom.js";

const ACTIVE = new Set(["queued", "running"]);
const RECONNECT_MS = 1000;

export async function render(main, [id]) {
  const job = await api.get(`/jobs/${encodeURIComponent(id)}`);
  const view = new JobView(main, job);
  view.follow();
  return () => view.stop();
}

class JobView {
  constructor(main, job) {
    this.job = job;
    this.id = job.jobId;
    this.abort = new AbortController();
    this.urls = [];
    this.finished = false;
    this.progress = job.progress || 0;
    this.badge = h("span", { id: "job-status" });
    this.bar = h("span");
    this.meter = h("div", { className: "progress", role: "progressbar", id: "job-progress",
      "aria-label": "Progress", "aria-valuemin": "0", "aria-valuemax": "100" }, this.bar);
    this.detail = h("p", { id: "job-detail", className: "muted", "aria-live": "polite" });
    this.cancelButton = h("button", { type: "button", className: "danger", onclick: () => this.cancel() }, "Cancel");
    this.error = h("div", { id: "job-error" });
    this.preview = h("div", { className: "preview", id: "job-preview" });
    this.previewSection = h("section", { "aria-labelledby": "preview-title", id: "preview-section", hidden: true },
      h("h2", { id: "preview-title" }, "Live preview"), this.preview);
    this.gallery = h("div", { className: "gallery", id: "job-gallery" });
    this.logs = h("ol", { id: "job-logs" });
    this.finishedAt = h("dd", { id: "job-finished" }, "—");
    replace(main,
      h("p", {}, h("a", { href: "#/jobs" }, "← All jobs")),
      h("h1", {}, "Job ", h("code", {}, this.id)),
      h("section", { className: "card", "aria-labelledby": "state-title" },
        h("h2", { id: "state-title", className: "visually-hidden" }, "State"),
        h("dl", { className: "facts" },
          h("dt", {}, "Status"), h("dd", {}, this.badge),
          h("dt", {}, "Workflow"), h("dd", {}, h("a", { href: `#/workflows/${encodeURIComponent(job.workflowId)}` }, job.workflowId)),
          h("dt", {}, "Created"), h("dd", {}, timeElement(job.timing && job.timing.createdAt)),
          h("dt", {}, "Priority"), h("dd", {}, job.priority || "normal"),
          h("dt", {}, "Finished"), this.finishedAt),
        this.meter, this.detail,
        h("div", { className: "actions" }, this.cancelButton)),
      this.error,
      this.previewSection,
      h("section", { "aria-labelledby": "outputs-title" },
        h("h2", { id: "outputs-title" }, "Outputs"), this.gallery),
      h("section", { "aria-labelledby": "logs-title" },
        h("h2", { id: "logs-title" }, "Logs"), h("div", { className: "logs" }, this.logs)));
    this.show(job);
    if (!ACTIVE.has(job.status)) this.finish();
  }

  show(state) {
    replace(this.badge, statusBadge(state.status));
    this.progress = Math.max(this.progress, Number(state.progress) || 0);
    const percent = Math.round(this.progress);
    this.bar.style.width = `${percent}%`;
    this.meter.setAttribute("aria-valuenow", String(percent));
    this.meter.setAttribute("aria-valuetext", `${percent} %`);
    const parts = [`${percent} %`];
    if (state.status === "queued" && state.queuePosition) parts.push(`position ${state.queuePosition} in the queue`);
    if (state.node) parts.push(`node ${state.node}${state.nodeType ? ` (${state.nodeType})` : ""}`);
    if (state.maxSteps) parts.push(`step ${state.step}/${state.maxSteps}`);
    if (!ACTIVE.has(state.status)) parts.push(state.status);
    this.detail.textContent = parts.join(" · ");
    this.cancelButton.hidden = !ACTIVE.has(state.status);
  }

  async follow() {
    while (!this.finished && !this.abort.signal.aborted) {
      try {
        await streamEvents(`/jobs/${encodeURIComponent(this.id)}/events`, (event) => this.onEvent(event), this.abort.signal);
      } catch (error) {
        if (this.abort.signal.aborted) return;
        if (error instanceof ApiError && error.status < 500) {
          replace(this.error, h("p", { role: "alert", className: "error" }, errorText(error)));
          return;
        }
      }
      if (this.finished || this.abort.signal.aborted) return;
      // The stream ended without a terminal event (a server restart): read, then rejoin.
      const job = await api.get(`/jobs/${encodeURIComponent(this.id)}`).catch(() => null);
      if (job && !ACTIVE.has(job.status)) { this.show(job); await this.finish(); return; }
      await new Promise((resolve) => setTimeout(resolve, RECONNECT_MS));
    }
  }

  onEvent(event) {
    if (event.type === "preview") { this.showPreview(event); return; }
    this.show({ ...this.job, ...event });
    if (event.type === "terminal") this.finish();
  }

  showPreview(event) {
    const source = previewSource(event);
    if (!source) return;
    this.previewSection.hidden = false;
    replace(this.preview, h("img", { src: source, alt: `Preview frame${event.step ? ` at step ${event.step}` : ""}` }));
  }

  async finish() {
    if (this.finished) return;
    this.finished = true;
    this.abort.abort();
    const [job, logs] = await Promise.all([
      api.get(`/jobs/${encodeURIComponent(this.id)}`),
      api.get(`/jobs/${encodeURIComponent(this.id)}/logs`).catch(() => ({ logs: [] })),
    ]);
    this.job = job;
    this.show(job);
    announce(`Job ${job.status}`);
    const timing = job.timing || {};
    if (timing.completedAt) {
      const ran = timing.executionTimeMs ? ` · ran ${(timing.executionTimeMs / 1000).toFixed(1)} s` : "";
      replace(this.finishedAt, timeElement(timing.completedAt), ran);
    }
    if (job.error) {
      replace(this.error, h("div", { role: "alert", className: "card error", id: "job-error-box" },
        h("strong", {}, job.error.code), ": ", job.error.message,
        job.error.details ? h("pre", {}, JSON.stringify(job.error.details, null, 2)) : null));
    }
    replace(this.logs, logs.logs.map((line) => h("li", {},
      `${line.timestamp} ${String(line.level).toUpperCase()} ${line.message}`)));
    await this.showOutputs(job.outputs || []);
  }

  async showOutputs(outputs) {
    if (!outputs.length) { replace(this.gallery, h("p", { className: "muted" }, "No outputs.")); return; }
    const figures = await Promise.all(outputs.map(async (output) => {
      const blob = await api.blob(output.url);
      const url = URL.createObjectURL(blob);
      this.urls.push(url);
      const image = (output.contentType || blob.type).startsWith("image/");
      return h("figure", {},
        image ? h("img", { src: url, alt: output.filename, width: 512 }) : null,
        h("figcaption", {},
          h("a", { href: url, download: output.filename }, `Download ${output.filename}`),
          h("span", { className: "muted" }, ` · ${output.size} bytes`)));
    }));
    replace(this.gallery, figures);
  }

  async cancel() {
    this.cancelButton.disabled = true;
    try {
      const answer = await api.post(`/jobs/${encodeURIComponent(this.id)}/cancel`, {});
      announce(answer.message || "Cancellation requested");
    } catch (error) {
      replace(this.error, h("p", { role: "alert", className: "error" }, errorText(error)));
    } finally {
      this.cancelButton.disabled = false;
    }
  }

  stop() {
    this.abort.abort();
    for (const url of this.urls) URL.revokeObjectURL(url);
  }
}

// A preview event's image: inline base64 (`data`/`image` with its content type) or a URL.
function previewSource(event) {
  const preview = event.preview && typeof event.preview === "object" ? event.preview : event;
  const data = preview.data || preview.image;
  if (typeof data === "string" && data.startsWith("data:")) return data;
  if (typeof data === "string" && data) return `data:${preview.contentType || preview.mimeType || "image/jpeg"};base64,${data}`;
  if (typeof preview.url === "string" && preview.url.startsWith("/")) return preview.url;
  return null;
}
