// The jobs list: status and workflow filters, paging, relative times, and live
// status (the page re-reads itself every few seconds while it is open: one request,
// however many jobs are shown). Users see their own jobs, admins everyone's.

import { api } from "/ui/js/api.js";
import { h, replace, statusBadge, timeElement } from "/ui/js/dom.js";

const PAGE = 20;
const REFRESH_MS = 2500;
const STATUSES = ["", "queued", "running", "succeeded", "failed", "cancelled"];

export async function render(main) {
  const query = new URLSearchParams(location.hash.split("?")[1] || "");
  const state = { status: query.get("status") || "", workflowId: query.get("workflowId") || "", offset: 0 };
  const { workflows } = await api.get("/workflows");
  const status = h("select", { id: "filter-status" },
    STATUSES.map((s) => h("option", { value: s, selected: s === state.status }, s || "any status")));
  const workflow = h("select", { id: "filter-workflow" },
    h("option", { value: "" }, "any workflow"),
    workflows.map((w) => h("option", { value: w.id, selected: w.id === state.workflowId }, w.name || w.id)));
  const body = h("tbody");
  const summary = h("p", { id: "jobs-count", "aria-live": "polite" });
  const previous = h("button", { type: "button", onclick: () => move(-PAGE) }, "Previous page");
  const next = h("button", { type: "button", onclick: () => move(PAGE) }, "Next page");
  let timer = null;
  let stopped = false;

  async function load() {
    clearTimeout(timer);
    const params = new URLSearchParams({ limit: String(PAGE), offset: String(state.offset) });
    if (state.status) params.set("status", state.status);
    if (state.workflowId) params.set("workflowId", state.workflowId);
    try {
      const { jobs, count } = await api.get(`/jobs?${params}`);
      if (stopped) return;
      replace(body, jobs.length ? jobs.map(row) : h("tr", {}, h("td", { colspan: 5 }, "No jobs match.")));
      const last = Math.min(state.offset + jobs.length, count);
      summary.textContent = count ? `Jobs ${state.offset + 1}–${last} of ${count}` : "No jobs";
      previous.disabled = state.offset === 0;
      next.disabled = state.offset + PAGE >= count;
    } finally {
      if (!stopped) timer = setTimeout(load, REFRESH_MS);
    }
  }
  function move(delta) { state.offset = Math.max(0, state.offset + delta); load(); }
  status.addEventListener("change", () => { state.status = status.value; state.offset = 0; load(); });
  workflow.addEventListener("change", () => { state.workflowId = workflow.value; state.offset = 0; load(); });

  replace(main, h("h1", {}, "Jobs"),
    h("div", { className: "filters", role: "search", "aria-label": "Filter jobs" },
      h("div", { className: "field" }, h("label", { for: "filter-status" }, "Status"), status),
      h("div", { className: "field" }, h("label", { for: "filter-workflow" }, "Workflow"), workflow)),
    summary,
    h("div", { className: "table-wrap" }, h("table", { id: "jobs-table" },
      h("caption", { className: "visually-hidden" }, "Jobs, newest first"),
      h("thead", {}, h("tr", {}, ["Job", "Status", "Workflow", "Progress", "Created"].map((t) => h("th", { scope: "col" }, t)))),
      body)),
    h("div", { className: "actions" }, previous, next));
  await load();
  return () => { stopped = true; clearTimeout(timer); };
}

function row(job) {
  return h("tr", { "data-job": job.jobId },
    h("td", {}, h("a", { href: `#/jobs/${encodeURIComponent(job.jobId)}` }, h("code", {}, job.jobId.slice(0, 8)))),
    h("td", {}, statusBadge(job.status)),
    h("td", {}, job.workflowId),
    h("td", {}, `${Math.round(job.progress || 0)} %`),
    h("td", {}, timeElement(job.timing && job.timing.createdAt)));
}
