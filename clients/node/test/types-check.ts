// Compiled with `tsc --noEmit --strict` (npm run typecheck): index.d.ts
// describes what the tests exercise, and a misuse is a type error.
import { Client, PalisadeError, passwordSha1, enforcementKey } from "palisade-client";
import type { Decision, Enforcement, Event, UserEventsPage } from "palisade-client";

async function signIn(palisade: Client, user: string, ip: string, password: string): Promise<string> {
  const event: Event = { kind: "sign_in", user, ip, outcome: "attempt", password_sha1: passwordSha1(password) };
  const d: Decision = await palisade.decide(event, { failMode: "closed", timeoutMs: 30 });
  if (d.degraded) console.warn(d.error);
  for (const r of d.reasons) console.log(r.code, r.score.toFixed(2), r.detail);
  palisade.report({ ...event, event_id: d.event_id, outcome: "failure", failure_reason: "locked" });
  return d.action;
}

async function feed(palisade: Client, signal: AbortSignal): Promise<Map<string, Enforcement>> {
  const held = new Map<string, Enforcement>();
  for await (const e of palisade.enforcements({ signal })) held.set(enforcementKey(e), e);
  return held;
}

async function history(palisade: Client, user: string): Promise<number> {
  let page: UserEventsPage = await palisade.userEvents(user, { limit: 100 });
  let n = page.events.length;
  while (page.next != null) {
    page = await palisade.userEvents(user, { before: page.next });
    n += page.events.filter((e) => e.decision?.action === "block").length;
  }
  return n;
}

const palisade = new Client({ baseUrl: "http://127.0.0.1:8080", apiKey: "k".repeat(24), onError: (e) => console.warn(e.message) });
try {
  await signIn(palisade, "alice", "203.0.113.7", "hunter2");
  await feed(palisade, AbortSignal.timeout(10));
  await history(palisade, "alice");
  const effect = await palisade.feedback("e1", "fraudulent");
  console.log(effect.enforcements.length, await palisade.isPasswordBreached("password"), palisade.stats.dropped);
} catch (e) {
  if (e instanceof PalisadeError) console.log(e.status, e.code, e.field);
}
await palisade.close();
