// Latency a Node.js app sees for POST /v1/decide at a modest, paced rate:
// the same shape as python_decide.py, so the figures sit side by side.
//
// - node_raw: node:http with a keep-alive agent (one socket), the JSON body
//   built by hand: the floor for Node.
// - node_client: the client's decide() as an app calls it (fail open, the
//   default 50 ms budget; fetch, through undici's pool); degraded decisions
//   are counted.
//
// Both share one absolute schedule (call i at start + i / rate) and are
// interleaved in alternating blocks (500 calls) so a noisy machine weighs on
// both alike. Each event has its own event_id; users and addresses cycle
// through a few hundred, so the engine decides against real state.
//
//   node benches/clients/node_decide.mjs --url http://127.0.0.1:8080 --key KEY [--rate 200] [--count 5000] [--warmup 500]
//
// Prints one JSON line: {"node_raw": {p50_us, p99_us, n}, "node_client": {...}, "degraded": N}
import http from "node:http";
import { randomUUID } from "node:crypto";
import { parseArgs } from "node:util";
import { Client } from "../../clients/node/index.js";

const { values: opt } = parseArgs({
  options: {
    url: { type: "string", default: "http://127.0.0.1:8080" },
    key: { type: "string" },
    rate: { type: "string", default: "200" },
    count: { type: "string", default: "5000" },
    warmup: { type: "string", default: "500" },
    block: { type: "string", default: "500" },
  },
});
if (!opt.key) throw new Error("--key is required");
const rate = Number(opt.rate);
const count = Number(opt.count);
const warmup = Number(opt.warmup);
const block = Number(opt.block);
const USERS = 300;
const IPS = 200;
const UA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36";
const ipOf = (k) => `${23 + (k % 60)}.${(k * 7) % 256}.${(k * 13) % 256}.${1 + (k % 250)}`;

const url = new URL(opt.url);
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
let rawErrors = 0;
function raw(event) {
  const body = `{"event_id":"${event.event_id}","kind":"sign_in","user":"${event.user}","ip":"${event.ip}","outcome":"attempt","user_agent":"${UA}"}`;
  return new Promise((resolve) => {
    const req = http.request(
      {
        host: url.hostname,
        port: url.port,
        path: "/v1/decide",
        method: "POST",
        agent,
        headers: { authorization: `Bearer ${opt.key}`, "content-type": "application/json", "content-length": Buffer.byteLength(body) },
      },
      (res) => {
        res.resume();
        res.on("end", () => {
          if (res.statusCode !== 200) rawErrors += 1;
          resolve();
        });
      },
    );
    req.on("error", () => {
      rawErrors += 1;
      resolve();
    });
    req.end(body);
  });
}

const client = new Client({ baseUrl: opt.url, apiKey: opt.key });
const event = (i) => ({ event_id: randomUUID(), kind: "sign_in", user: `bench-user-${i % USERS}`, ip: ipOf(i % IPS), outcome: "attempt", user_agent: UA });
const ways = { node_raw: (e) => raw(e), node_client: (e) => client.decide(e) };
const samples = { node_raw: [], node_client: [] };

const start = performance.now();
const total = warmup * 2 + count * 2;
for (let i = 0; i < total; i++) {
  const due = start + (i * 1000) / rate;
  const wait = due - performance.now();
  if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  const way = Math.floor(i / block) % 2 === 0 ? "node_raw" : "node_client";
  const t0 = process.hrtime.bigint();
  await ways[way](event(i));
  const ns = Number(process.hrtime.bigint() - t0);
  if (i >= warmup * 2) samples[way].push(ns);
}

const summary = (ns) => {
  const s = [...ns].sort((a, b) => a - b);
  const at = (p) => s[Math.max(0, Math.ceil(p * s.length) - 1)] ?? 0;
  return { p50_us: Math.round(at(0.5) / 100) / 10, p99_us: Math.round(at(0.99) / 100) / 10, n: s.length };
};
console.log(JSON.stringify({ node_raw: summary(samples.node_raw), node_client: summary(samples.node_client), degraded: client.stats.degraded, raw_errors: rawErrors }));
agent.destroy();
