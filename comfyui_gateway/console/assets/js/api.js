// The gateway's REST API as the console uses it: credentials for this tab only
// (sessionStorage), JSON errors as ApiError, event streams read with fetch (an
// EventSource cannot send the X-API-Key or Authorization header).

const STORE_KEY = "comfyui-gateway.credentials";

export class ApiError extends Error {
  constructor(status, body) {
    super(body && body.message ? body.message : `HTTP ${status}`);
    this.status = status;
    this.code = (body && body.error) || `HTTP_${status}`;
    this.details = (body && Array.isArray(body.details)) ? body.details : [];
  }
}

export const credentials = {
  get() {
    try { return JSON.parse(sessionStorage.getItem(STORE_KEY) || "null"); } catch { return null; }
  },
  set(kind, secret) { sessionStorage.setItem(STORE_KEY, JSON.stringify({ kind, secret })); },
  clear() { sessionStorage.removeItem(STORE_KEY); },
};

export function authHeaders() {
  const saved = credentials.get();
  if (!saved || !saved.secret) return {};
  return saved.kind === "jwt"
    ? { Authorization: `Bearer ${saved.secret}` }
    : { "X-API-Key": saved.secret };
}

async function request(method, path, { body, headers = {}, raw = false, signal } = {}) {
  const init = { method, headers: { ...authHeaders(), ...headers }, signal };
  if (body !== undefined) {
    if (body instanceof Blob) {
      init.body = body;
    } else {
      init.body = JSON.stringify(body);
      init.headers["Content-Type"] = "application/json";
    }
  }
  const response = await fetch(path, init);
  if (!response.ok) {
    let payload = null;
    try { payload = await response.json(); } catch { payload = { message: await safeText(response) }; }
    throw new ApiError(response.status, payload);
  }
  if (raw) return response;
  if (response.status === 204) return null;
  const text = await response.text();
  return text ? JSON.parse(text) : null;
}

async function safeText(response) {
  try { return (await response.text()).slice(0, 300); } catch { return ""; }
}

export const api = {
  get: (path, options) => request("GET", path, options),
  post: (path, body, options = {}) => request("POST", path, { ...options, body }),
  put: (path, body) => request("PUT", path, { body }),
  delete: (path) => request("DELETE", path),
  blob: async (path) => (await request("GET", path, { raw: true })).blob(),
  session: () => request("GET", "/console/session"),
  config: () => request("GET", "/console/config"),
};

// Calls onEvent(event) for each `data: {...}` record of a server-sent event stream;
// resolves when the stream ends, rejects on an HTTP error. Abort with the signal.
export async function streamEvents(path, onEvent, signal) {
  const response = await request("GET", path, { raw: true, signal, headers: { Accept: "text/event-stream" } });
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    let end;
    while ((end = buffer.search(/\r?\n\r?\n/)) >= 0) {
      const record = buffer.slice(0, end);
      buffer = buffer.slice(end).replace(/^\r?\n\r?\n/, "");
      const data = record.split(/\r?\n/).filter((line) => line.startsWith("data:"))
        .map((line) => line.slice(5).trimStart()).join("\n");
      if (data) onEvent(JSON.parse(data));
    }
  }
}
