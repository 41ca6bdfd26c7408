// The workflow catalogue: name, description, id, and a way to its form.

import { api } from "/ui/js/api.js";
import { h, replace } from "/ui/js/dom.js";

export async function render(main) {
  replace(main, h("h1", {}, "Workflows"), h("p", {}, "Loading…"));
  const { workflows } = await api.get("/workflows");
  const cards = workflows.map((workflow) => h("li", { className: "card" },
    h("h2", {}, workflow.name || workflow.id),
    h("p", { className: "muted" }, h("code", {}, workflow.id)),
    h("p", {}, workflow.description || "No description."),
    h("a", { className: "button", href: `#/workflows/${encodeURIComponent(workflow.id)}`,
      "aria-label": `Open ${workflow.name || workflow.id}` }, "Open")));
  replace(main, h("h1", {}, "Workflows"),
    workflows.length ? h("ul", { className: "grid plain", role: "list" }, cards)
      : h("p", {}, "No workflows are registered yet."));
}
