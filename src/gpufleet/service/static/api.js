// The REST API client: the token lives in sessionStorage (gone when the tab closes),
// every call sends it as a Bearer header, and every failure becomes an ApiError carrying
// the API's one error shape {"error": {"code", "message", "problems"}}.

import { h } from "./dom.js";

const TOKEN_KEY = "gpufleet.token";
export const BASE = "/api/v1";

export function getToken() {
  return sessionStorage.getItem(TOKEN_KEY) || "";
}

export function setToken(token) {
  sessionStorage.setItem(TOKEN_KEY, token.trim());
}

export function clearToken() {
  sessionStorage.removeItem(TOKEN_KEY);
}

export class ApiError extends Error {
  constructor(status, code, message, problems) {
    super(message);
    this.status = status;
    this.code = code;
    this.problems = problems || [];
  }
}

async function errorOf(resp) {
  let body = null;
  try {
    body = await resp.json();
  } catch {
    body = null;
  }
  const e = body && typeof body === "object" ? body.error : null;
  if (e && typeof e === "object") {
    return new ApiError(resp.status, String(e.code || resp.status), String(e.message || resp.statusText), Array.isArray(e.problems) ? e.problems : []);
  }
  const detail = body && body.detail ? (typeof body.detail === "string" ? body.detail : JSON.stringify(body.detail)) : resp.statusText;
  return new ApiError(resp.status, `http-${resp.status}`, detail || `HTTP ${resp.status}`, []);
}

async function send(path, opts = {}) {
  const headers = { Accept: opts.accept || "application/json" };
  const token = opts.token !== undefined ? opts.token : getToken();
  if (token) headers.Authorization = `Bearer ${token}`;
  let body;
  if (opts.body !== undefined) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(opts.body);
  }
  let resp;
  try {
    resp = await fetch(BASE + path, { method: opts.method || "GET", headers, body, cache: "no-store" });
  } catch (err) {
    throw new ApiError(0, "network", `The server did not answer (${err.message}).`, []);
  }
  if (!resp.ok) {
    const err = await errorOf(resp);
    if (resp.status === 401 && opts.onUnauthorized !== false) {
      window.dispatchEvent(new CustomEvent("gpufleet:unauthorized", { detail: err }));
    }
    throw err;
  }
  return resp;
}

/** A JSON call: api("/transfers"), api("/transfers/3/approve", {method: "POST", body: {note}}). */
export async function api(path, opts = {}) {
  const resp = await send(path, opts);
  if (resp.status === 204) return null;
  return resp.json();
}

/** A call whose answer is text (a report's HTML). */
export async function apiText(path, opts = {}) {
  const resp = await send(path, Object.assign({ accept: "text/html, text/plain, */*" }, opts));
  return resp.text();
}

/** A call whose answer is a file to save (an export). */
export async function apiBlob(path, opts = {}) {
  const resp = await send(path, Object.assign({ accept: "*/*" }, opts));
  return resp.blob();
}

/** Every page of a list endpoint ({"items", "total", "limit", "offset"}), up to `max` items. */
export async function listAll(path, max = 2000) {
  const items = [];
  const sep = path.includes("?") ? "&" : "?";
  for (let offset = 0; offset < max; ) {
    const page = await api(`${path}${sep}limit=200&offset=${offset}`);
    const got = Array.isArray(page) ? page : page.items || [];
    items.push(...got);
    offset += got.length;
    if (Array.isArray(page) || got.length === 0 || offset >= (page.total ?? 0)) break;
  }
  return items;
}

/** An error as a block: the message, the machine code and status, each problem's field. */
export function errorBox(err, title) {
  const isApi = err instanceof ApiError;
  const message = err && err.message ? err.message : String(err);
  const problems = isApi ? err.problems : [];
  return h(
    "div",
    { class: "error", role: "alert" },
    h("strong", null, title || "The request failed"),
    isApi ? h("span", { class: "error-code" }, ` ${err.code}${err.status ? ` (HTTP ${err.status})` : ""}`) : null,
    h("p", { class: "error-message" }, message),
    problems.length
      ? h(
          "ul",
          { class: "problems" },
          problems.map((p) =>
            h("li", null, p.field ? h("code", null, String(p.field)) : null, p.field ? ": " : null, String(p.message ?? ""), p.expected ? h("span", { class: "muted" }, ` (expected ${p.expected})`) : null),
          ),
        )
      : null,
  );
}
