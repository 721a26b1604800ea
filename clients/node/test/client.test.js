// The Node.js client against a real `palisade serve` (started per test file,
// and again where a test needs its own).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:net";
import { inspect } from "node:util";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomUUID } from "node:crypto";
import { Client, PalisadeError, passwordSha1, enforcementKey, foldUser } from "../index.js";
import { startServer, pwnedIndex } from "./server.js";

const BREACHED = ["password1", "letmein", "qwerty123", "123456"];
let server;
let errors;
let client;

before(async () => {
  server = await startServer({ args: ["--pwned-index", pwnedIndex(BREACHED)] });
  errors = [];
  // A debug build on a loaded CI machine can take more than 50 ms: the
  // tests against the real server give decide 2 s (the budget itself is
  // tested against a silent server below).
  client = new Client({ baseUrl: server.url, apiKey: server.key, decideTimeoutMs: 2000, onError: (e) => errors.push(e) });
});

after(async () => {
  await client?.close(2000);
  const code = await server?.stop();
  assert.equal(code, 0, `palisade serve exited ${code}:\n${server.log()}`);
});

const attempt = (user, ip, extra = {}) => ({ kind: "sign_in", user, ip, outcome: "attempt", ...extra });
const failure = (user, ip, extra = {}) => ({
  event_id: randomUUID(),
  kind: "sign_in",
  user,
  ip,
  outcome: "failure",
  failure_reason: "bad_password",
  ...extra,
});
const freePort = () =>
  new Promise((resolve) => {
    const s = createServer().listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });

test("a fresh user's attempt is allowed, with the decision's fields typed and an event id filled in", async () => {
  const d = await client.decide(attempt("fresh-user", "203.0.113.10"));
  assert.equal(d.action, "allow");
  assert.equal(d.degraded, false);
  assert.match(d.event_id, /^[0-9a-f-]{36}$/);
  assert.equal(typeof d.risk_score, "number");
  assert.ok(Array.isArray(d.reasons));
  assert.match(d.rules_version, /^rules-[0-9a-f]{12}$/);
});

test("a password field is refused before anything is sent, in any usual spelling", async () => {
  for (const field of ["password", "Password", "PASSWD", "new-password", "pwd", "user_password", "passcode"]) {
    await assert.rejects(client.decide({ ...attempt("u", "203.0.113.1"), [field]: "hunter2" }), /never the password/);
    assert.throws(() => client.report({ ...failure("u", "203.0.113.1"), [field]: "hunter2" }), /never the password/);
  }
  assert.equal(passwordSha1("password"), "5BAA61E4C9B93F3F0682250B6CF8331B7EE68FD8");
  // The hash is not a password, nor is a field left empty.
  await client.decide({ ...attempt("u", "203.0.113.1"), password_sha1: passwordSha1("x"), password: null });
  assert.throws(() => client.report(attempt("u", "203.0.113.1")), /takes outcomes/);
});

test("users in enforcement keys are folded as the server folds them", () => {
  assert.equal(foldUser("  Alice "), "alice");
  assert.equal(foldUser("ＡＬＩＣＥ"), "alice");
  assert.equal(foldUser("zo\u00eb"), foldUser("zoe\u0308"));
  assert.equal(foldUser("a\u200bb"), "ab");
  assert.equal(enforcementKey({ action: "block", scope: "user_ip", user: "Alice", tenant: "a/b%", ip: "203.0.113.7" }), "user_ip:a%2Fb%25/alice|203.0.113.7");
  assert.equal(enforcementKey({ action: "require_password_reset", scope: "user", user: "Bob" }), "password_reset:user:/bob");
});

test("the key never shows when the client is logged", () => {
  assert.ok(!inspect(client).includes(server.key));
  assert.ok(!JSON.stringify(client).includes(server.key));
  assert.ok(!String(client).includes(server.key));
});

test("a wrong key is a loud error, not a degraded decision", async () => {
  const wrong = new Client({ baseUrl: server.url, apiKey: "not-the-key-0123456789abcdef", decideTimeoutMs: 2000 });
  await assert.rejects(wrong.decide(attempt("u", "203.0.113.1")), (e) => e instanceof PalisadeError && e.status === 401);
});

test("a refused field names itself", async () => {
  await assert.rejects(
    client.decide(attempt("u", "not-an-address")),
    (e) => e instanceof PalisadeError && e.status === 422 && e.field === "ip",
  );
});

test("no server: fail open answers allow, fail closed answers challenge with MFA required, within the budget", async () => {
  const port = await freePort();
  const seen = [];
  const c = new Client({ baseUrl: `http://127.0.0.1:${port}`, apiKey: "k".repeat(24), decideTimeoutMs: 200, onError: (e) => seen.push(e) });
  const t0 = performance.now();
  const open = await c.decide(attempt("u", "203.0.113.1"));
  const closed = await c.decide(attempt("u", "203.0.113.1"), { failMode: "closed" });
  assert.ok(performance.now() - t0 < 1000, "a refused connection answers at once");
  assert.deepEqual([open.action, open.degraded], ["allow", true]);
  assert.deepEqual([closed.action, closed.mfa, closed.degraded], ["challenge", "required", true]);
  assert.equal(c.stats.degraded, 2);
  assert.equal(seen.length, 2, "each outage is told to onError");
});

test("a server that accepts and never answers: degraded after the decide timeout, not later", async () => {
  const held = [];
  const silent = createServer((s) => held.push(s));
  await new Promise((r) => silent.listen(0, "127.0.0.1", r));
  const c = new Client({ baseUrl: `http://127.0.0.1:${silent.address().port}`, apiKey: "k".repeat(24), decideTimeoutMs: 100 });
  const t0 = performance.now();
  const d = await c.decide(attempt("u", "203.0.113.1"));
  const took = performance.now() - t0;
  held.forEach((s) => s.destroy());
  silent.close();
  assert.equal(d.action, "allow");
  assert.match(d.error, /no answer within 100 ms/);
  assert.ok(took >= 95 && took < 600, `took ${took} ms`);
});

test("reported failures all arrive, and the next attempt from that address is blocked", async () => {
  const user = "report-victim";
  const ip = "198.51.100.40";
  const ids = [];
  for (let i = 0; i < 12; i++) {
    const e = failure(user, ip);
    ids.push(e.event_id);
    client.report(e);
  }
  assert.ok(await client.flush(5000));
  const page = await client.userEvents(user, { limit: 100 });
  const seen = new Set(page.events.map((x) => x.event.event_id));
  for (const id of ids) assert.ok(seen.has(id), `${id} missing from the user's events`);
  const d = await client.decide(attempt(user, ip));
  assert.equal(d.action, "block");
  assert.ok(d.reasons.some((r) => r.code.startsWith("failures_") || r.code === "user_lockout"), JSON.stringify(d.reasons));
});

test("a repeated outcome is counted once, as a duplicate", async () => {
  const e = failure("dup-user", "198.51.100.41");
  const before = client.stats.duplicates;
  client.report(e);
  client.report(e);
  assert.ok(await client.flush(5000));
  assert.equal(client.stats.duplicates - before, 1);
  const page = await client.userEvents("dup-user");
  assert.equal(page.events.filter((x) => x.event.event_id === e.event_id).length, 1);
});

test("a batch with one bad event: the bad one is dropped and said, the others arrive", async () => {
  const before = client.stats.dropped;
  const good1 = failure("batch-user", "198.51.100.42");
  const bad = failure("batch-user", "300.1.2.3");
  const good2 = failure("batch-user", "198.51.100.42");
  const c = new Client({ baseUrl: server.url, apiKey: server.key });
  c.report(good1);
  c.report(bad);
  c.report(good2);
  assert.ok(await c.flush(5000));
  assert.equal(c.stats.dropped, 1);
  assert.equal(c.stats.sent, 2);
  const ids = new Set((await client.userEvents("batch-user")).events.map((x) => x.event.event_id));
  assert.ok(ids.has(good1.event_id) && ids.has(good2.event_id) && !ids.has(bad.event_id));
  assert.equal(client.stats.dropped, before);
  await c.close();
});

test("outcomes reported while Palisade is down arrive once it is back", async () => {
  const port = await freePort();
  const s = await startServer({ listen: `127.0.0.1:${port}` });
  const c = new Client({ baseUrl: s.url, apiKey: s.key });
  assert.equal(await s.stop(), 0, s.log());
  const events = Array.from({ length: 5 }, () => failure("outage-user", "198.51.100.43"));
  const reportedAt = Date.now();
  events.forEach((e) => c.report(e));
  await new Promise((r) => setTimeout(r, 1500));
  assert.equal(c.stats.sent, 0, JSON.stringify(c.stats));
  assert.ok(c.stats.retries >= 1, `the loop retried while the server was down: ${JSON.stringify(c.stats)}`);
  const again = await startServer({ listen: `127.0.0.1:${port}`, dataDir: s.dataDir });
  try {
    assert.ok(await c.flush(10_000), `delivered after the restart: ${JSON.stringify(c.stats)}, ${c.pending} pending\n${again.log()}`);
    const arrived = (await c.userEvents("outage-user")).events;
    const ids = new Set(arrived.map((x) => x.event.event_id));
    for (const e of events) assert.ok(ids.has(e.event_id), `${e.event_id} missing: ${JSON.stringify(arrived)}`);
    // Each keeps the time it was reported, not the time it was delivered:
    // five failures delivered at once must not look like one burst.
    for (const x of arrived) assert.ok(Math.abs(Date.parse(x.event.timestamp) - reportedAt) < 500, `${x.event.timestamp} is not ${new Date(reportedAt).toISOString()}`);
  } finally {
    await c.close(1000);
    await again.stop();
  }
});

test("feedback: a fraudulent verdict blocks the next attempt from that user and address", async () => {
  const user = "feedback-user";
  const ip = "203.0.113.77";
  const d = await client.decide(attempt(user, ip, { device_id: "thief-phone" }));
  assert.equal(d.action, "allow");
  const effect = await client.feedback(d.event_id, "fraudulent");
  assert.equal(effect.verdict, "fraudulent");
  assert.ok(effect.enforcements.some((e) => e.scope === "user_ip" && e.ip === ip && e.rule === "feedback"));
  const next = await client.decide(attempt(user, ip, { device_id: "thief-phone" }));
  assert.equal(next.action, "block");
  assert.ok(next.reasons.some((r) => r.code === "reported_fraud_block"), JSON.stringify(next.reasons));
  await assert.rejects(client.feedback("no-such-event", "legitimate"), (e) => e.code === "unknown_event" && e.status === 404);
});

test("the enforcement feed carries a brute force's block, keyed as the server keys it", async () => {
  const stop = new AbortController();
  const got = [];
  const reading = (async () => {
    for await (const e of client.enforcements({ signal: stop.signal })) {
      got.push(e);
      if (got.some((x) => x.ip === "198.51.100.99")) stop.abort();
    }
  })();
  await client.sendEvents(Array.from({ length: 14 }, () => failure("stream-victim", "198.51.100.99")));
  const timer = setTimeout(() => stop.abort(), 5000);
  await reading;
  clearTimeout(timer);
  const mine = got.filter((e) => e.ip === "198.51.100.99");
  assert.ok(mine.length >= 1, `no enforcement for the address: ${JSON.stringify(got)}`);
  const keys = mine.map(enforcementKey);
  assert.ok(keys.some((k) => k === "ip:198.51.100.99" || k === "user_ip:/stream-victim|198.51.100.99"), keys.join(", "));
});

test("breached passwords are found by k-anonymity, others are not", async () => {
  assert.ok((await client.isPasswordBreached("letmein")) >= 1);
  assert.equal(await client.isPasswordBreached(`not-breached-${randomUUID()}`), 0);
  const d = await client.decide({ kind: "sign_up", user: "new-signup", ip: "203.0.113.5", outcome: "attempt", password_sha1: passwordSha1("qwerty123") });
  assert.equal(d.compromised_password, true);
  assert.equal(d.action, "block");
});

test("a user name with a slash and non-ASCII letters round-trips through the user's events", async () => {
  const user = "ops/zoë müller";
  const d = await client.decide(attempt(user, "203.0.113.6"));
  const page = await client.userEvents(user);
  assert.ok(page.events.some((x) => x.event.event_id === d.event_id));
});

test("a feed that goes silent past idleMs is taken for dead and made again", async () => {
  // A server that answers the feed's headers and then says nothing, not even
  // the heartbeat palisade sends.
  let connections = 0;
  const held = [];
  const mute = createServer((s) => {
    connections += 1;
    held.push(s);
    s.once("data", () => s.write("HTTP/1.1 200 OK\r\nContent-Type: application/x-ndjson\r\nTransfer-Encoding: chunked\r\n\r\n"));
  });
  await new Promise((r) => mute.listen(0, "127.0.0.1", r));
  const seen = [];
  const c = new Client({ baseUrl: `http://127.0.0.1:${mute.address().port}`, apiKey: "k".repeat(24), onError: (e) => seen.push(e.message) });
  const stop = new AbortController();
  const reading = (async () => {
    for await (const _ of c.enforcements({ signal: stop.signal, idleMs: 200 })) {
      // nothing comes
    }
  })();
  await new Promise((r) => setTimeout(r, 1000));
  stop.abort();
  await reading;
  held.forEach((s) => s.destroy());
  mute.close();
  assert.ok(connections >= 2, `reconnected after silence: ${connections} connection(s)`);
  assert.ok(seen.some((m) => /nothing heard for 200 ms/.test(m)), seen.join("; "));
});

test("a server with lower batch limits: batches halve after a 413, and only an outcome too big alone is dropped", async () => {
  const dir = mkdtempSync(join(tmpdir(), "palisade-small-batches-"));
  const config = join(dir, "palisade.toml");
  writeFileSync(config, "[server]\nmax_batch_events = 3\nmax_batch_bytes = 2048\n");
  const s = await startServer({ args: ["--config", config] });
  const seen = [];
  const c = new Client({ baseUrl: s.url, apiKey: s.key, onError: (e) => seen.push(e) });
  try {
    const events = Array.from({ length: 10 }, () => failure("small-batches", "198.51.100.60"));
    const huge = failure("small-batches", "198.51.100.60", { user_agent: "x".repeat(2000) });
    events.slice(0, 5).forEach((e) => c.report(e));
    c.report(huge);
    events.slice(5).forEach((e) => c.report(e));
    // What the client was told, for a failure to say why.
    const told = () => `${JSON.stringify(c.stats)}; ${seen.map((e) => `${e.status} ${e.code} ${e.field ?? ""}: ${e.message}`).join("; ")}`;
    assert.ok(await c.flush(10_000), told());
    assert.equal(c.stats.sent, 10, told());
    assert.equal(c.stats.dropped, 1, told());
    assert.ok(seen.some((e) => e.status === 413), seen.map((e) => e.message).join("; "));
    const ids = new Set((await c.userEvents("small-batches", { limit: 100 })).events.map((x) => x.event.event_id));
    for (const e of events) assert.ok(ids.has(e.event_id), `${e.event_id} missing`);
    assert.ok(!ids.has(huge.event_id));
  } finally {
    await c.close(1000);
    await s.stop();
  }
});
