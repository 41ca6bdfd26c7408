// A form generated from a workflow's inputSchema: one labelled control per field,
// named exactly as the schema names it. Numbers keep their min/max, enums become
// selects, booleans checkboxes, image/mask/file fields file pickers that upload the
// file (POST /uploads) and send its `ref`.

import { api, ApiError } from "/ui/js/api.js";
import { h } from "/ui/js/dom.js";

const MEDIA = new Set(["image", "mask", "file"]);
const LONG_TEXT = /prompt|text|caption/i;

export function schemaFields(inputSchema) {
  if (!inputSchema || typeof inputSchema !== "object") return [];
  const fields = inputSchema.fields && typeof inputSchema.fields === "object"
    ? inputSchema.fields
    : inputSchema.properties && typeof inputSchema.properties === "object" ? inputSchema.properties : inputSchema;
  const entries = Object.entries(fields).filter(([, spec]) => spec && typeof spec === "object" && spec.type);
  // The schema arrives as a JSON object (no reliable key order): required fields
  // first, then prompts, then the rest by name.
  const rank = ([name, spec]) => (spec.required ? 0 : /prompt/i.test(name) ? 1 : 2);
  return entries.sort((a, b) => rank(a) - rank(b) || a[0].localeCompare(b[0]));
}

// Returns { element, values() -> {inputs} | throws, setErrors(details) }.
export function buildForm(inputSchema, defaults = {}) {
  const controls = schemaFields(inputSchema).map(([name, spec]) => control(name, spec, defaults[name]));
  return {
    element: h("div", {}, controls.map((c) => c.element)),
    values() {
      const inputs = {};
      for (const c of controls) {
        const value = c.value();
        if (value !== undefined) inputs[c.name] = value;
      }
      return inputs;
    },
    setErrors(details) {
      for (const c of controls) c.error.textContent = "";
      const rest = [];
      for (const detail of details) {
        const field = String(detail.field || "").replace(/^inputs\./, "").split(/[.[]/)[0];
        const target = controls.find((c) => c.name === field);
        if (target) target.error.textContent = detail.message || "invalid"; else rest.push(detail);
      }
      return rest;
    },
    pending() { return controls.some((c) => c.pending && c.pending()); },
  };
}

function control(name, spec, fallback) {
  const id = `input-${name}`;
  const initial = spec.default !== undefined ? spec.default : fallback;
  const error = h("p", { id: `${id}-error`, className: "field-error", role: "alert" });
  const hintText = [spec.description, rangeText(spec), spec.required ? "Required." : ""].filter(Boolean).join(" ");
  const hint = hintText ? h("span", { id: `${id}-hint`, className: "hint" }, hintText) : null;
  const described = [hint ? `${id}-hint` : "", `${id}-error`].filter(Boolean).join(" ");
  let input;
  let value;
  let pending = null;
  let extra = null;
  if (Array.isArray(spec.enum)) {
    input = h("select", { id, name }, spec.enum.map((option) =>
      h("option", { value: JSON.stringify(option), selected: option === initial }, String(option))));
    value = () => JSON.parse(input.value);
  } else if (spec.type === "integer" || spec.type === "number") {
    input = h("input", { id, name, type: "number", inputmode: spec.type === "integer" ? "numeric" : "decimal",
      min: spec.min ?? spec.minimum, max: spec.max ?? spec.maximum, step: spec.type === "integer" ? "1" : "any",
      value: initial ?? "" });
    value = () => (input.value === "" ? undefined : Number(input.value));
  } else if (spec.type === "boolean") {
    input = h("input", { id, name, type: "checkbox", checked: Boolean(initial) });
    value = () => input.checked;
  } else if (MEDIA.has(spec.type)) {
    const picker = mediaPicker(id, name, spec, error);
    input = picker.input;
    extra = picker.preview;
    value = picker.value;
    pending = picker.pending;
  } else {
    const long = LONG_TEXT.test(name) || (typeof initial === "string" && initial.length > 60);
    input = long
      ? h("textarea", { id, name, rows: 3, className: "short" }, initial ?? "")
      : h("input", { id, name, type: "text", value: initial ?? "" });
    value = () => (input.value === "" && !spec.required ? undefined : input.value);
  }
  if (spec.required) input.setAttribute("aria-required", "true");
  input.setAttribute("aria-describedby", described);
  const element = h("div", { className: "field" }, h("label", { for: id }, name), hint, input, extra, error);
  return { name, element, error, value, pending };
}

function rangeText(spec) {
  const min = spec.min ?? spec.minimum;
  const max = spec.max ?? spec.maximum;
  if (min !== undefined && max !== undefined) return `From ${min} to ${max}.`;
  if (min !== undefined) return `At least ${min}.`;
  if (max !== undefined) return `At most ${max}.`;
  return "";
}

// A file picker: shows a preview at once, uploads the file and keeps its `ref`.
function mediaPicker(id, name, spec, error) {
  const accept = spec.type === "file" ? undefined : "image/*";
  const input = h("input", { id, name, type: "file", accept });
  const preview = h("img", { className: "picker-preview", alt: `Preview of ${name}`, hidden: true });
  const state = { ref: undefined, uploading: null };
  input.addEventListener("change", () => {
    error.textContent = "";
    state.ref = undefined;
    const file = input.files && input.files[0];
    if (preview.src) URL.revokeObjectURL(preview.src);
    if (!file) { preview.hidden = true; return; }
    if (file.type.startsWith("image/")) {
      preview.src = URL.createObjectURL(file);
      preview.hidden = false;
    }
    state.uploading = api.post("/uploads", file, { headers: { "Content-Type": file.type || "application/octet-stream" } })
      .then((uploaded) => { state.ref = uploaded.ref; })
      .catch((failure) => {
        error.textContent = failure instanceof ApiError ? `${failure.code}: ${failure.message}` : String(failure);
      })
      .finally(() => { state.uploading = null; });
  });
  return {
    input,
    preview,
    value: () => state.ref,
    pending: () => state.uploading !== null,
  };
}
