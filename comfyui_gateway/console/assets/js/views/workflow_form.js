// One workflow's form: inputs generated from its inputSchema, then Generate.

import { api, ApiError } from "/ui/js/api.js";
import { h, replace } from "/ui/js/dom.js";
import { buildForm } from "/ui/js/schema_form.js";

export async function render(main, [id]) {
  replace(main, h("h1", {}, id), h("p", {}, "Loading…"));
  const { workflow } = await api.get(`/workflows/${encodeURIComponent(id)}`);
  const form = buildForm(workflow.inputSchema, workflow.defaultParams || {});
  const previews = h("input", { id: "option-previews", type: "checkbox" });
  const problem = h("p", { id: "generate-error", className: "field-error", role: "alert" });
  const generate = h("button", { type: "submit", className: "primary" }, "Generate");
  const element = h("form", { className: "card", "aria-label": `Inputs of ${workflow.name || workflow.id}` },
    form.element,
    h("div", { className: "field" },
      h("label", { for: "option-previews" }, previews, " Live previews while it renders"),
      h("span", { className: "hint" }, "Asks for preview frames (previews: true) when the gateway supports them.")),
    problem,
    h("div", { className: "actions" }, generate));
  element.addEventListener("submit", async (event) => {
    event.preventDefault();
    problem.textContent = "";
    if (form.pending()) {
      problem.textContent = "Wait for the file upload to finish.";
      return;
    }
    generate.disabled = true;
    try {
      const body = { workflowId: workflow.id, inputs: form.values() };
      if (previews.checked) body.previews = true;
      const created = await api.post("/jobs", body);
      location.hash = `#/jobs/${encodeURIComponent(created.jobId)}`;
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
      const rest = form.setErrors(error.details);
      problem.textContent = `${error.code}: ${error.message}` + (rest.length ? "" : "");
    } finally {
      generate.disabled = false;
    }
  });
  replace(main,
    h("p", {}, h("a", { href: "#/workflows" }, "← All workflows")),
    h("h1", {}, workflow.name || workflow.id),
    h("p", { className: "muted" }, workflow.description || ""),
    element);
}
