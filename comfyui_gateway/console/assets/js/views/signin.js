// Sign in with an API key or a JWT, kept in sessionStorage: this tab only.

import { api, ApiError, credentials } from "/ui/js/api.js";
import { h, replace } from "/ui/js/dom.js";
import { signedIn } from "/ui/js/app.js";

export function render(main) {
  const kind = h("select", { id: "signin-kind", name: "kind" },
    h("option", { value: "apiKey" }, "API key (X-API-Key)"),
    h("option", { value: "jwt" }, "JWT (Authorization: Bearer)"));
  const secret = h("input", { id: "signin-secret", name: "secret", type: "password", autocomplete: "off", required: true });
  const problem = h("p", { id: "signin-error", className: "field-error", role: "alert" });
  const form = h("form", { className: "card", "aria-labelledby": "signin-title" },
    h("div", { className: "field" }, h("label", { for: "signin-kind" }, "Credential type"), kind),
    h("div", { className: "field" }, h("label", { for: "signin-secret" }, "Credential"),
      h("span", { className: "hint", id: "signin-hint" }, "Kept for this browser tab only; sent with every API call."),
      secret),
    problem,
    h("div", { className: "actions" }, h("button", { type: "submit", className: "primary" }, "Sign in")));
  secret.setAttribute("aria-describedby", "signin-hint signin-error");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    problem.textContent = "";
    credentials.set(kind.value, secret.value.trim());
    try {
      await api.session();
    } catch (error) {
      credentials.clear();
      problem.textContent = error instanceof ApiError ? `${error.code}: ${error.message}` : String(error);
      secret.focus();
      return;
    }
    await signedIn();
  });
  replace(main, h("h1", { id: "signin-title" }, "Sign in"), form);
  secret.focus();
}
