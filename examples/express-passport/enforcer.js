// Palisade's enforcement feed, held in memory: what the app refuses at its
// door without asking Palisade again (an address banned for its failures, a
// user+address pair blocked after a "this wasn't me"), and the password
// resets Palisade requires. On every (re)connection the feed first replays
// what is in force, so entries are keyed the way the server keys them and a
// repeat replaces itself.
import { enforcementKey } from "palisade-client";
import { find } from "./users.js";

export class Enforcer {
  constructor(client, log = console) {
    this.client = client;
    this.log = log;
    this.held = new Map();
    this.stop = new AbortController();
  }

  async run() {
    for await (const e of this.client.enforcements({ signal: this.stop.signal })) {
      const key = enforcementKey(e);
      this.held.set(key, e);
      if (e.action === "require_password_reset") {
        const user = find(e.user);
        const at = Date.parse(e.issued_at);
        if (user && !(user.resetRequiredAt >= at)) user.resetRequiredAt = at;
      }
      this.log.info(`palisade enforcement: ${key} (${e.rule}${e.until ? ` until ${e.until}` : ""})`);
    }
  }

  /** The block in force for this sign-in, if any: by address, network or user+address. */
  blocking({ user, ip, tenant = "" }, now = Date.now()) {
    const keys = [`ip:${ip}`, `user_ip:${tenant}/${user}|${ip}`];
    const v4 = /^(\d+\.\d+\.\d+)\.\d+$/.exec(ip);
    if (v4) keys.push(`network:${v4[1]}.0/24`);
    for (const k of keys) {
      const e = this.held.get(k);
      if (e && e.action === "block" && (!e.until || Date.parse(e.until) > now)) return e;
    }
    return null;
  }

  list(now = Date.now()) {
    return [...this.held.entries()]
      .filter(([, e]) => !e.until || Date.parse(e.until) > now)
      .map(([key, e]) => ({ key, ...e }));
  }
}
