// Create or edit a workflow; problems (JSON syntax here, validation from the
// gateway) are shown beside the field they concern.

import { api, ApiError } from "/ui/js/api.js";
import { announce, h, replace } from "/ui/js/dom.js";

const JSON_FIELDS = ["workflowJson", "inputSchema", "defaultParams"];
const TEXT_FIELDS = ["id", "name", "description"];
const ALIASES = { workflow_json: "workflowJson", input_schema: "inputSchema", default_params: "defaultParams" };

export async function render(main, [id]) {
  const creating = id === undefined;
  const workflow = creating
    ? { id: "", name: "", description: "", workflowJson: {}, inputSchema: { type: "object", fields: {} }, defaultParams: {} }
    : (await api.get(`/workflows/${encodeURIComponent(id)}`)).workflow;
  const inputs = {};
  const errors = {};
  const fields = [...TEXT_FIELDS, ...JSON_FIELDS].map((name) => {
    const json = JSON_FIELDS.includes(name);
    errors[name] = h("p", { id: `wf-${name}-error`, className: "field-error", role: "alert" });
    inputs[name] = json
      ? h("textarea", { id: `wf-${name}`, name, spellcheck: "false", rows: 14, "aria-describedby": `wf-${name}-error` },
        JSON.stringify(workflow[name] ?? {}, null, 2))
      : h("input", { id: `wf-${name}`, name, type: "text", value: workflow[name] ?? "",
        readOnly: name === "id" && !creating, required: name === "id", "aria-describedby": `wf-${name}-error` });
    return h("div", { className: `field${json ? " pair" : ""}` },
      h("div", {}, h("label", { for: `wf-${name}` }, name), inputs[name]),
      errors[name]);
  });
  const general = h("p", { id: "wf-error", className: "field-error", role: "alert" });
  const form = h("form", { className: "card editor", "aria-label": creating ? "New workflow" : `Edit ${id}` },
    fields, general,
    h("div", { className: "actions" },
      h("button", { type: "submit", className: "primary" }, creating ? "Create" : "Save"),
      h("a", { className: "button", href: "#/admin" }, "Back")));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    for (const element of Object.values(errors)) element.textContent = "";
    general.textContent = "";
    const body = {};
    let broken = false;
    for (const name of TEXT_FIELDS) body[name] = inputs[name].value;
    for (const name of JSON_FIELDS) {
      try {
        body[name] = JSON.parse(inputs[name].value || "{}");
      } catch (error) {
        errors[name].textContent = `Not valid JSON: ${error.message}`;
        broken = true;
      }
    }
    if (broken) return;
    try {
      if (creating) await api.post("/workflows", body);
      else { delete body.id; await api.put(`/workflows/${encodeURIComponent(id)}`, body); }
      announce(`Workflow ${creating ? body.id : id} saved`);
      location.hash = "#/admin";
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
      general.textContent = `${error.code}: ${error.message}`;
      for (const detail of error.details) {
        const head = String(detail.field || "").split(/[.[]/)[0];
        const name = ALIASES[head] || head;
        const target = errors[name] || general;
        if (target === general) continue;
        target.textContent += `${target.textContent ? "\n" : ""}${detail.field}: ${detail.message}`;
      }
      const first = Object.keys(errors).find((name) => errors[name].textContent);
      if (first) inputs[first].focus();
    }
  });
  replace(main, h("p", {}, h("a", { href: "#/admin" }, "← Admin")),
    h("h1", {}, creating ? "New workflow" : `Edit ${id}`), form);
}
