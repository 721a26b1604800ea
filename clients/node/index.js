// Palisade's client for Node.js (18 or later): the calls an auth service
// makes during sign-in, with the failure handling the README advises.
//
// - `decide(event)` asks before the password is checked. Its timeout (50 ms
//   by default) is the whole budget: on a timeout, a connection error or a 5xx
//   it answers a *degraded* decision instead of throwing, `allow` when failing
//   open (the default, for ordinary accounts) or `challenge` with MFA required
//   when failing closed (admin and high-value accounts). A 4xx is a bug in the
//   caller or its configuration (a wrong key, a refused field) and throws a
//   `PalisadeError`: an outage is quiet, a mistake is loud. Not retried, except
//   once at once when a kept-alive connection turns out to be closed before
//   anything was sent, inside the same deadline.
// - `report(event)` sends the outcome off the request path: it queues the
//   event and returns. A background loop posts batches to /v1/events and
//   retries them with backoff (honouring Retry-After) for as long as the
//   client lives: the server counts an event once by (event_id, outcome), so a
//   retry never counts twice. A batch refused for one bad event (422 naming
//   `[i].field`) is sent again without it; the dropped event is counted.
// - `feedback` is not retried (a verdict is a deliberate act; the caller sees
//   the error). `sendEvents` retries 503s until its timeout.
//
// Limits: the outcome queue holds `outcomeQueueSize` (10,000) events, beyond
// which new ones are dropped and counted; batches are at most
// `outcomeBatchSize` (500) and MAX_BATCH_BYTES (1 MiB) of JSON, halved for
// good after a 413 (a server with lower batch limits); backoff starts at
// 100 ms and doubles to 5 s.

import { createHash, randomUUID } from "node:crypto";
import http from "node:http";
import https from "node:https";

export const VERSION = "0.1.0";

/** An answer from Palisade that is not a decision: a 4xx, or a call that failed for good. */
export class PalisadeError extends Error {
  constructor(status, code, message, field) {
    super(`palisade: ${status} ${code}: ${message}${field ? ` (field ${field})` : ""}`);
    this.name = "PalisadeError";
    this.status = status;
    this.code = code;
    this.field = field ?? null;
  }
}

/** SHA-1 of a password as 40 upper-case hex digits: what `password_sha1` carries. */
export function passwordSha1(password) {
  return createHash("sha1").update(String(password), "utf8").digest("hex").toUpperCase();
}

/**
 * A user name as the server keys it (RFC 8265 UsernameCaseMapped, in
 * outline): trimmed; printable ASCII lower-cased (runs of spaces made one);
 * otherwise invisible code points taken out, NFKC, and each space-separated
 * part lower-cased and NFC'd.
 */
export function foldUser(user) {
  const u = String(user ?? "").trim();
  if (/^[\x20-\x7e]*$/.test(u)) {
    return u.includes("  ") ? u.split(" ").filter(Boolean).map((p) => p.toLowerCase()).join(" ") : u.toLowerCase();
  }
  const visible = u.replace(/\p{Default_Ignorable_Code_Point}/gu, "").normalize("NFKC").trim();
  return visible
    .split(" ")
    .map((p) => p.toLowerCase().normalize("NFC"))
    .filter(Boolean)
    .join(" ");
}

/**
 * The server's key for what an enforcement enforces, the same for a
 * replayed copy: `ip:203.0.113.7`, `network:203.0.113.0/24`,
 * `user_ip:acme/alice|203.0.113.7`, `user:/alice` (no tenant), `asn:AS64500`,
 * `device:ID`, `password_reset:user:acme/alice`.
 */
export function enforcementKey(e) {
  const tenant = (e.tenant ?? "").replaceAll("%", "%25").replaceAll("/", "%2F");
  const user = `${tenant}/${foldUser(e.user)}`;
  let body;
  switch (e.scope) {
    case "ip":
      body = e.ip;
      break;
    case "network":
      body = e.network;
      break;
    case "user_ip":
      body = `${user}|${e.ip}`;
      break;
    case "user":
      body = user;
      break;
    case "asn":
      body = `AS${e.asn}`;
      break;
    case "device":
      body = e.device_id;
      break;
    default: {
      // A scope this client does not know yet: every identifying field, in order.
      const { until, issued_at, event_id, rule, ...rest } = e;
      body = JSON.stringify(Object.fromEntries(Object.entries(rest).sort()));
    }
  }
  const key = `${e.scope}:${body}`;
  return e.action === "require_password_reset" ? `password_reset:${key}` : key;
}

/**
 * Whether a key names a plain-text password, as the server judges it
 * (`password`, `PASSWD`, `pwd`, `pass`, `passcode`, `new-password`,
 * `user_password`, …; `password_sha1` is the hash, not a password).
 */
export function isPasswordKey(key) {
  if (key.length > 32) return false;
  const k = key.toLowerCase().replace(/[^a-z0-9]/g, "");
  if (k === "passwordsha1") return false;
  return ["pwd", "pass", "passwd", "passphrase", "passcode"].includes(k) || k.includes("password") || k.includes("passwd");
}

const sleep = (ms, signal) =>
  new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    signal?.addEventListener("abort", () => {
      clearTimeout(t);
      resolve();
    }, { once: true });
  });

/** Connections kept open to Palisade per client: more requests in flight wait for one. */
export const MAX_SOCKETS = 64;
/** Most bytes of JSON in one outcome batch (the server takes 4 MiB by default). */
export const MAX_BATCH_BYTES = 1 << 20;

export class Client {
  #key;
  #url;
  #transport;
  #agent;
  #queue = [];
  #wake = null;
  #loop = null;
  #closed = false;
  #inFlight = 0;

  /**
   * @param {object} options see index.d.ts
   */
  constructor({
    baseUrl,
    apiKey,
    decideTimeoutMs = 50,
    timeoutMs = 2000,
    failMode = "open",
    outcomeQueueSize = 10_000,
    outcomeBatchSize = 500,
    onError = null,
  }) {
    if (!baseUrl) throw new TypeError("palisade: baseUrl is required, such as http://127.0.0.1:8080");
    if (!apiKey) throw new TypeError("palisade: apiKey is required");
    if (failMode !== "open" && failMode !== "closed") {
      throw new TypeError(`palisade: failMode must be "open" or "closed", got ${JSON.stringify(failMode)}`);
    }
    this.baseUrl = String(baseUrl).replace(/\/+$/, "");
    this.#url = new URL(this.baseUrl);
    if (this.#url.protocol !== "http:" && this.#url.protocol !== "https:") {
      throw new TypeError(`palisade: baseUrl must be http:// or https://, got ${JSON.stringify(baseUrl)}`);
    }
    this.#transport = this.#url.protocol === "https:" ? https : http;
    this.#agent = new this.#transport.Agent({ keepAlive: true, maxSockets: MAX_SOCKETS, scheduling: "lifo" });
    this.#key = apiKey;
    this.decideTimeoutMs = decideTimeoutMs;
    this.timeoutMs = timeoutMs;
    this.failMode = failMode;
    this.outcomeQueueSize = outcomeQueueSize;
    this.outcomeBatchSize = outcomeBatchSize;
    this.onError = onError;
    this.stats = { sent: 0, dropped: 0, retries: 0, degraded: 0, duplicates: 0 };
  }

  /** The key stays out of logs: inspecting the client shows its address only. */
  toString() {
    return `Palisade client for ${this.baseUrl}`;
  }
  [Symbol.for("nodejs.util.inspect.custom")]() {
    return this.toString();
  }
  toJSON() {
    return { baseUrl: this.baseUrl, failMode: this.failMode };
  }

  #headers(extra = {}) {
    return { authorization: `Bearer ${this.#key}`, "content-type": "application/json", ...extra };
  }

  #report(err) {
    if (this.onError) {
      try {
        this.onError(err);
      } catch {
        // A logging callback that throws must not break a sign-in.
      }
    }
  }

  // Requests go through node:http on a keep-alive agent rather than fetch:
  // on /v1/decide at a modest rate that halved what the client adds to the
  // raw call (BENCHMARKS.md). The timeout covers the whole exchange.
  #request(method, path, body, timeoutMs, extraHeaders) {
    const payload = body === undefined ? undefined : Buffer.from(typeof body === "string" ? body : JSON.stringify(body));
    const headers = this.#headers(extraHeaders);
    if (payload) headers["content-length"] = payload.length;
    return new Promise((resolve, reject) => {
      const req = this.#transport.request(
        this.#url.origin + path,
        { method, headers, agent: this.#agent },
        (res) => {
          const chunks = [];
          res.on("data", (c) => chunks.push(c));
          res.on("end", () => {
            clearTimeout(timer);
            resolve({ status: res.statusCode, headers: { get: (h) => res.headers[h.toLowerCase()] ?? null }, text: Buffer.concat(chunks).toString("utf8") });
          });
          res.on("error", fail);
        },
      );
      const timer = setTimeout(() => {
        const e = new Error(`no answer within ${Math.round(timeoutMs)} ms`);
        e.name = "TimeoutError";
        req.destroy(e);
      }, Math.max(1, Math.ceil(timeoutMs)));
      function fail(err) {
        clearTimeout(timer);
        reject(err);
      }
      req.on("error", fail);
      req.end(payload);
    });
  }

  static #error(status, text) {
    try {
      const e = JSON.parse(text).error;
      if (e && e.code) return new PalisadeError(status, e.code, e.message ?? "", e.field);
    } catch {
      // not JSON: fall through
    }
    return new PalisadeError(status, "http_" + status, text.slice(0, 200));
  }

  static #checkEvent(event) {
    if (event === null || typeof event !== "object" || Array.isArray(event)) {
      throw new TypeError("palisade: an event is a plain object");
    }
    for (const [k, v] of Object.entries(event)) {
      if (v !== null && v !== undefined && isPasswordKey(k)) {
        throw new TypeError(
          `palisade: the event carries a password in \`${k}\`; send only password_sha1 (passwordSha1(password)), never the password`,
        );
      }
    }
  }

  #degraded(event, why, mode) {
    this.stats.degraded += 1;
    const closed = mode === "closed";
    return {
      event_id: event.event_id,
      action: closed ? "challenge" : "allow",
      ...(closed ? { mfa: "required" } : {}),
      risk_level: closed ? "medium" : "low",
      risk_score: 0,
      reasons: [],
      compromised_password: false,
      enforced: false,
      rules_version: "",
      model_version: "",
      degraded: true,
      error: why,
    };
  }

  /**
   * Asks Palisade about `event` (usually outcome `attempt`, before the
   * password is checked). Never throws for an outage: see the module note.
   */
  async decide(event, { failMode, timeoutMs } = {}) {
    Client.#checkEvent(event);
    const e = event.event_id ? event : { ...event, event_id: randomUUID() };
    const mode = failMode ?? this.failMode;
    const budget = timeoutMs ?? this.decideTimeoutMs;
    const deadline = performance.now() + budget;
    for (let attempt = 0; ; attempt++) {
      let res;
      try {
        res = await this.#request("POST", "/v1/decide", e, Math.max(1, deadline - performance.now()));
      } catch (err) {
        // A kept-alive connection the server closed fails before anything
        // is sent: one more try, inside the same deadline.
        const code = err?.code ?? err?.cause?.code;
        const reset = code === "ECONNRESET" || code === "EPIPE";
        if (reset && attempt === 0 && deadline - performance.now() > 1) continue;
        const why = err?.name === "TimeoutError" ? `no answer within ${budget} ms` : `${code ?? err?.message}`;
        this.#report(new PalisadeError(0, "unreachable", why));
        return this.#degraded(e, why, mode);
      }
      if (res.status === 200) {
        try {
          const d = JSON.parse(res.text);
          if (typeof d.action === "string") return { ...d, degraded: false };
        } catch {
          // fall through to degraded
        }
        const why = "the answer is not a decision";
        this.#report(new PalisadeError(200, "bad_answer", why));
        return this.#degraded(e, why, mode);
      }
      const err = Client.#error(res.status, res.text);
      if (res.status >= 500 || res.status === 429) {
        this.#report(err);
        return this.#degraded(e, `${res.status} ${err.code}`, mode);
      }
      throw err;
    }
  }

  /**
   * Queues an outcome (`success` or `failure`) for /v1/events and returns at
   * once; it is sent in the background, retried until delivered.
   */
  report(event) {
    Client.#checkEvent(event);
    if (event.outcome !== "success" && event.outcome !== "failure") {
      throw new TypeError(`palisade: report() takes outcomes (success or failure), got ${JSON.stringify(event.outcome)}: ask about an attempt with decide()`);
    }
    if (this.#closed) {
      this.stats.dropped += 1;
      this.#report(new PalisadeError(0, "closed", "report() after close(): the outcome is dropped"));
      return;
    }
    if (this.#queue.length >= this.outcomeQueueSize) {
      this.stats.dropped += 1;
      this.#report(new PalisadeError(0, "queue_full", `the outcome queue is full (${this.outcomeQueueSize}); ${event.event_id} dropped`));
      return;
    }
    // Stamped now: an outcome sent late or in a batch keeps the time it
    // happened (without one the server takes its receive time, and a batch
    // of failures would look like one burst to the lockout's speed check).
    const stamped = { ...event, event_id: event.event_id ?? randomUUID(), timestamp: event.timestamp ?? new Date().toISOString() };
    this.#queue.push({ id: stamped.event_id, json: JSON.stringify(stamped) });
    if (!this.#loop) this.#loop = this.#drain();
    this.#wake?.();
  }

  async #drain() {
    let backoff = 100;
    let limit = this.outcomeBatchSize;
    for (;;) {
      if (this.#queue.length === 0) {
        if (this.#closed) break;
        await new Promise((resolve) => {
          this.#wake = resolve;
        });
        this.#wake = null;
        continue;
      }
      // Up to `limit` outcomes and MAX_BATCH_BYTES of JSON (at least one).
      let batch = [];
      let bytes = 2;
      for (const item of this.#queue) {
        if (batch.length >= limit || (batch.length > 0 && bytes + item.json.length + 1 > MAX_BATCH_BYTES)) break;
        batch.push(item);
        bytes += item.json.length + 1;
      }
      this.#inFlight = batch.length;
      let delivered = false;
      while (!delivered) {
        let res;
        try {
          res = await this.#request("POST", "/v1/events", `[${batch.map((b) => b.json).join(",")}]`, this.timeoutMs);
        } catch (err) {
          res = { status: 0, text: String(err?.code ?? err?.cause?.code ?? err?.message), headers: { get: () => null } };
        }
        if (res.status === 202 || res.status === 200) {
          const a = JSON.parse(res.text);
          this.stats.sent += batch.length;
          this.stats.duplicates += a.duplicates ?? 0;
          delivered = true;
          backoff = 100;
        } else if (res.status === 413 && batch.length > 1) {
          // Over the server's batch limits (`max_batch_events`,
          // `max_batch_bytes`): send half, and no more than that from now on.
          batch = batch.slice(0, Math.ceil(batch.length / 2));
          limit = batch.length;
          this.#inFlight = batch.length;
        } else if (res.status >= 400 && res.status < 500 && res.status !== 408 && res.status !== 429) {
          const err = Client.#error(res.status, res.text);
          const bad = /^\[(\d+)\]/.exec(err.field ?? "");
          const i = bad ? Number(bad[1]) : -1;
          if (i >= 0 && i < batch.length) {
            // The batch is refused whole for this one event: drop it, keep the rest.
            this.stats.dropped += 1;
            this.#report(new PalisadeError(err.status, err.code, `outcome ${batch[i].id} dropped: ${err.message}`, err.field));
            this.#queue.splice(i, 1);
            batch = batch.filter((_, j) => j !== i);
            this.#inFlight = batch.length;
            if (batch.length === 0) delivered = true;
            continue;
          }
          // Refused whole for a reason no one event explains (a wrong key, or
          // one outcome alone over the size limit): retrying cannot help, and
          // keeping it would stop every later one.
          this.stats.dropped += batch.length;
          this.#report(err);
          delivered = true;
        } else {
          this.stats.retries += 1;
          if (res.status) this.#report(Client.#error(res.status, res.text));
          else this.#report(new PalisadeError(0, "unreachable", res.text));
          const after = Number(res.headers.get?.("retry-after"));
          await sleep(Number.isFinite(after) && after > 0 ? Math.min(after * 1000, 60_000) : backoff);
          backoff = Math.min(backoff * 2, 5000);
        }
      }
      this.#queue.splice(0, batch.length);
      this.#inFlight = 0;
    }
    this.#loop = null;
  }

  /** Outcomes waiting or in flight. */
  get pending() {
    return this.#queue.length;
  }

  /** Waits until every queued outcome is delivered, at most `timeoutMs`; true when all were. */
  async flush(timeoutMs = 5000) {
    const end = performance.now() + timeoutMs;
    while (this.#queue.length > 0 && performance.now() < end) await sleep(5);
    return this.#queue.length === 0;
  }

  /** Flushes (bounded by `timeoutMs`) and stops the background loop. */
  async close(timeoutMs = 5000) {
    const all = await this.flush(timeoutMs);
    this.#closed = true;
    this.#wake?.();
    if (!all) {
      this.stats.dropped += this.#queue.length;
      this.#queue.length = 0;
    }
    this.#agent.destroy();
    return all;
  }

  /** Posts outcomes now and waits for them to be applied; retries 503s until `timeoutMs`. */
  async sendEvents(events, { timeoutMs } = {}) {
    events.forEach((e) => Client.#checkEvent(e));
    const end = performance.now() + (timeoutMs ?? this.timeoutMs);
    let backoff = 100;
    for (;;) {
      let res;
      try {
        res = await this.#request("POST", "/v1/events", events, Math.max(1, end - performance.now()));
      } catch (err) {
        if (performance.now() + backoff >= end) throw new PalisadeError(0, "unreachable", String(err?.code ?? err?.cause?.code ?? err?.message));
        res = null;
      }
      if (res && (res.status === 202 || res.status === 200)) return JSON.parse(res.text);
      if (res && res.status < 500 && res.status !== 429) throw Client.#error(res.status, res.text);
      if (performance.now() + backoff >= end) throw res ? Client.#error(res.status, res.text) : new PalisadeError(0, "unreachable", "timeout");
      this.stats.retries += 1;
      await sleep(backoff);
      backoff = Math.min(backoff * 2, 5000);
    }
  }

  /** Says whether an earlier event was the user (`legitimate`) or not (`fraudulent`). Not retried. */
  async feedback(eventId, verdict) {
    if (verdict !== "legitimate" && verdict !== "fraudulent") {
      throw new TypeError(`palisade: verdict must be "legitimate" or "fraudulent", got ${JSON.stringify(verdict)}`);
    }
    const res = await this.#request("POST", "/v1/feedback", { event_id: eventId, verdict }, this.timeoutMs);
    if (res.status === 200) return JSON.parse(res.text);
    throw Client.#error(res.status, res.text);
  }

  /** One page of a user's recent events with their decisions, newest first. */
  async userEvents(user, { limit, before, tenant } = {}) {
    const q = new URLSearchParams();
    if (limit !== undefined) q.set("limit", String(limit));
    if (before !== undefined && before !== null) q.set("before", String(before));
    if (tenant !== undefined && tenant !== null) q.set("tenant", tenant);
    const qs = q.toString();
    const path = `/v1/users/${encodeURIComponent(user)}/events${qs ? "?" + qs : ""}`;
    const res = await this.#request("GET", path, undefined, this.timeoutMs);
    if (res.status === 200) return JSON.parse(res.text);
    throw Client.#error(res.status, res.text);
  }

  /**
   * The enforcement feed: an async iterator of enforcements that reconnects
   * (with backoff) when the connection drops or the server says `lagged`. On
   * each connection the server sends what is in force first, so the same
   * enforcement can come twice: key them with `enforcementKey`. Stop it with
   * `signal` (an AbortSignal). A connection silent for `idleMs` (45 s, three
   * of the server's 15 s heartbeats) is taken for dead and made again.
   */
  async *enforcements({ signal, idleMs = 45_000 } = {}) {
    let backoff = 100;
    while (!signal?.aborted) {
      // The server sends an empty line after each 15 s of silence
      // (`server.stream_heartbeat`): hearing nothing for `idleMs` means the
      // connection is dead, and it is dropped and made again.
      const connection = new AbortController();
      const stop = () => connection.abort();
      signal?.addEventListener("abort", stop, { once: true });
      let idle = setTimeout(stop, idleMs);
      const heard = () => {
        clearTimeout(idle);
        idle = setTimeout(stop, idleMs);
      };
      try {
        const res = await fetch(this.baseUrl + "/v1/decisions/stream", {
          headers: this.#headers(),
          signal: connection.signal,
        });
        if (res.status === 401) throw Client.#error(401, await res.text());
        if (res.status !== 200) throw Client.#error(res.status, await res.text());
        backoff = 100;
        const decoder = new TextDecoder();
        let buffered = "";
        for await (const chunk of res.body) {
          heard();
          buffered += decoder.decode(chunk, { stream: true });
          let nl;
          while ((nl = buffered.indexOf("\n")) >= 0) {
            const line = buffered.slice(0, nl).trim();
            buffered = buffered.slice(nl + 1);
            if (!line) continue;
            const item = JSON.parse(line);
            if (item.error) throw new PalisadeError(200, item.error.code, item.error.message ?? "");
            yield item;
          }
        }
      } catch (err) {
        if (signal?.aborted) return;
        if (err instanceof PalisadeError && err.status === 401) throw err;
        const why = connection.signal.aborted ? `nothing heard for ${idleMs} ms` : String(err?.code ?? err?.cause?.code ?? err?.message);
        this.#report(err instanceof PalisadeError ? err : new PalisadeError(0, "stream", why));
      } finally {
        clearTimeout(idle);
        signal?.removeEventListener("abort", stop);
      }
      if (signal?.aborted) return;
      this.stats.retries += 1;
      await sleep(backoff, signal);
      backoff = Math.min(backoff * 2, 5000);
    }
  }

  /**
   * How often the breach corpus saw `password` (0: not in it), asked by
   * k-anonymity: only the first 5 hex digits of its SHA-1 leave the process,
   * and the answer is padded.
   */
  async isPasswordBreached(password) {
    const h = passwordSha1(password);
    const signal = AbortSignal.timeout(this.timeoutMs);
    const res = await fetch(`${this.baseUrl}/range/${h.slice(0, 5)}`, { headers: { "add-padding": "true" }, signal });
    const text = await res.text();
    if (res.status !== 200) throw Client.#error(res.status, text);
    for (const line of text.split(/\r?\n/)) {
      const [suffix, count] = line.split(":");
      if (suffix === h.slice(5)) return Number(count) || 0;
    }
    return 0;
  }

  /** True when /healthz answers 200 within the timeout. */
  async health() {
    try {
      const res = await fetch(this.baseUrl + "/healthz", { signal: AbortSignal.timeout(this.timeoutMs) });
      await res.text();
      return res.status === 200;
    } catch {
      return false;
    }
  }
}
