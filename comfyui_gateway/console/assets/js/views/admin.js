// Admin: the workflows (create, edit, delete), the audit log, and the backends with
// their reachability and queue depth.

import { api } from "/ui/js/api.js";
import { announce, errorText, h, replace, timeElement } from "/ui/js/dom.js";

export async function render(main) {
  const [{ workflows }, audit, health] = await Promise.all([
    api.get("/workflows"),
    api.get("/audit?limit=50"),
    api.get("/health"),
  ]);
  const problem = h("p", { role: "alert", className: "field-error", id: "admin-error" });
  replace(main, h("h1", {}, "Admin"), problem,
    h("section", { "aria-labelledby": "wf-title" },
      h("h2", { id: "wf-title" }, "Workflows"),
      h("p", {}, h("a", { className: "button", href: "#/admin/workflows/new" }, "New workflow")),
      h("div", { className: "table-wrap" }, h("table", { id: "admin-workflows" },
        h("thead", {}, h("tr", {}, ["Id", "Name", "Updated", "Actions"].map((t) => h("th", { scope: "col" }, t)))),
        h("tbody", {}, workflows.map((workflow) => h("tr", {},
          h("td", {}, h("code", {}, workflow.id)),
          h("td", {}, workflow.name),
          h("td", {}, timeElement(workflow.updatedAt)),
          h("td", {}, h("div", { className: "actions" },
            h("a", { className: "button", href: `#/admin/workflows/${encodeURIComponent(workflow.id)}`,
              "aria-label": `Edit ${workflow.id}` }, "Edit"),
            h("button", { type: "button", className: "danger", "aria-label": `Delete ${workflow.id}`,
              onclick: () => remove(workflow.id) }, "Delete"))))))))),
    h("section", { "aria-labelledby": "backends-title" },
      h("h2", { id: "backends-title" }, "Backends"),
      h("div", { className: "table-wrap" }, h("table", { id: "admin-backends" },
        h("thead", {}, h("tr", {}, ["Backend", "Reachable", "Queue depth", "ComfyUI", "Last seen"].map((t) => h("th", { scope: "col" }, t)))),
        h("tbody", {}, backendsOf(health).map((backend) => h("tr", {},
          h("td", {}, backend.url),
          h("td", {}, backend.reachable ? "yes" : "no"),
          h("td", {}, String(backend.queueRemaining ?? 0)),
          h("td", {}, backend.comfyuiVersion || ""),
          h("td", {}, timeElement(backend.lastSeen)))))))),
    h("section", { "aria-labelledby": "audit-title" },
      h("h2", { id: "audit-title" }, "Audit log"),
      h("div", { className: "table-wrap" }, h("table", { id: "admin-audit" },
        h("thead", {}, h("tr", {}, ["When", "Actor", "Action", "Target", "Outcome"].map((t) => h("th", { scope: "col" }, t)))),
        h("tbody", {}, audit.entries.map((entry) => h("tr", {},
          h("td", {}, timeElement(entry.timestamp)),
          h("td", {}, entry.actor),
          h("td", {}, entry.action),
          h("td", {}, entry.target),
          h("td", {}, entry.outcome))))))));

  async function remove(id) {
    if (!window.confirm(`Delete workflow ${id}?`)) return;
    try {
      await api.delete(`/workflows/${encodeURIComponent(id)}`);
      announce(`Workflow ${id} deleted`);
      await render(main);
    } catch (error) {
      problem.textContent = errorText(error);
    }
  }
}

function backendsOf(health) {
  if (Array.isArray(health.backends) && health.backends.length) return health.backends;
  return health.comfyui ? [{ url: health.comfyui.url, reachable: health.comfyui.reachable }] : [];
}
