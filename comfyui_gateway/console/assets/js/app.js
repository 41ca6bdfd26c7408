// The console's shell: who is signed in, the navigation, and the hash router.
// Each view is a module exporting render(main, params, session) and may return a
// cleanup function (to stop its streams or timers when the user navigates away).

import { api, ApiError, credentials } from "/ui/js/api.js";
import { h, replace } from "/ui/js/dom.js";
import * as signin from "/ui/js/views/signin.js";
import * as workflows from "/ui/js/views/workflows.js";
import * as workflowForm from "/ui/js/views/workflow_form.js";
import * as job from "/ui/js/views/job.js";
import * as jobs from "/ui/js/views/jobs.js";
import * as admin from "/ui/js/views/admin.js";
import * as editor from "/ui/js/views/workflow_editor.js";

const ROUTES = [
  [/^#\/signin$/, signin, false],
  [/^#\/workflows$/, workflows, false],
  [/^#\/workflows\/([^/]+)$/, workflowForm, false],
  [/^#\/jobs$/, jobs, false],
  [/^#\/jobs\/([^/]+)$/, job, false],
  [/^#\/admin$/, admin, true],
  [/^#\/admin\/workflows\/new$/, editor, true],
  [/^#\/admin\/workflows\/([^/]+)$/, editor, true],
];

let session = null;
let cleanup = null;
let navigation = 0;

export function currentSession() { return session; }

async function loadSession() {
  const config = await api.config();
  if (config.authEnabled && !credentials.get()) {
    session = null;  // ask for credentials first: no request that must fail
    return session;
  }
  try {
    session = await api.session();
  } catch (error) {
    if (!(error instanceof ApiError) || error.status !== 401) throw error;
    session = null;
  }
  return session;
}

function renderChrome() {
  const nav = document.getElementById("nav");
  const who = document.getElementById("who");
  const banner = document.getElementById("auth-banner");
  nav.hidden = !session;
  document.getElementById("nav-admin").hidden = !(session && session.role === "admin");
  banner.hidden = !(session && !session.authEnabled);
  banner.textContent = "Authentication is off on this gateway: no sign-in needed, every visitor is an admin.";
  if (!session) {
    replace(who);
  } else if (!session.authEnabled) {
    replace(who, h("span", {}, "Auth off · admin"));
  } else {
    replace(who,
      h("span", {}, `Signed in as ${session.subject} (${session.role})`),
      h("button", { type: "button", onclick: signOut }, "Sign out"));
  }
  for (const link of nav.querySelectorAll("a")) {
    const active = location.hash.startsWith(link.getAttribute("href"));
    if (active) link.setAttribute("aria-current", "page"); else link.removeAttribute("aria-current");
  }
}

function signOut() {
  credentials.clear();
  session = null;
  location.hash = "#/signin";
}

export async function signedIn() {
  await loadSession();
  location.hash = "#/workflows";
}

async function route() {
  const token = ++navigation;
  if (cleanup) { cleanup(); cleanup = null; }
  const main = document.getElementById("view");
  if (!session && location.hash !== "#/signin") {
    location.hash = "#/signin";
    return;
  }
  if (session && (location.hash === "" || location.hash === "#/" || location.hash === "#/signin")) {
    location.hash = "#/workflows";
    return;
  }
  renderChrome();
  const found = ROUTES.map(([pattern, view, adminOnly]) => [location.hash.match(pattern), view, adminOnly])
    .find(([match]) => match);
  if (!found) {
    replace(main, h("h1", {}, "Not found"), h("p", {}, h("a", { href: "#/workflows" }, "Go to the workflows")));
    return;
  }
  const [match, view, adminOnly] = found;
  if (adminOnly && session.role !== "admin") {
    replace(main, h("h1", {}, "Admins only"), h("p", { role: "alert" }, "This page needs the admin role."));
    return;
  }
  const params = match.slice(1).map(decodeURIComponent);
  // Each visit renders into a container of its own: a slower earlier view that
  // finishes loading after the user moved on writes into a detached node, not here.
  const page = h("div", { className: "page" });
  replace(main, page);
  try {
    const stop = (await view.render(page, params, session)) || null;
    if (token === navigation) cleanup = stop; else if (stop) stop();
  } catch (error) {
    if (token === navigation) showFailure(page, error);
  }
  if (token !== navigation) return;
  // Move focus to the new page (screen readers announce it), unless the view has put
  // it on a control of its own (the sign-in field).
  if (!main.contains(document.activeElement) || document.activeElement === main) {
    main.focus({ preventScroll: true });
  }
}

export function showFailure(main, error) {
  if (error instanceof ApiError && error.status === 401) {
    credentials.clear();
    session = null;
    location.hash = "#/signin";
    return;
  }
  replace(main, h("h1", {}, "Something went wrong"),
    h("p", { role: "alert", className: "error" }, error instanceof ApiError ? `${error.code}: ${error.message}` : String(error)));
}

async function start() {
  try {
    await loadSession();
  } catch (error) {
    showFailure(document.getElementById("view"), error);
    return;
  }
  window.addEventListener("hashchange", route);
  await route();
}

start();
