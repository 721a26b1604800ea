// A sign-in app on Express and Passport wired to Palisade, as README.md
// ("Wiring it into a sign-in") describes:
//
//   sign-in        decide(attempt) before the password check
//                  block     -> refuse without checking the password,
//                               report failure/locked
//                  challenge -> password right: ask for the TOTP code
//                  allow     -> password right: signed in
//                  then report success (mfa none/passed) or failure
//                  (bad_password, unknown_user, mfa_failed)
//   sign-up        decide(kind sign_up, password_sha1): a breached
//                  password (compromised_password) is refused
//   password       decide(kind password_change, password_sha1): the same
//   "wasn't me"    feedback(event_id, fraudulent)
//   enforcements   the feed, held by Enforcer: blocks refused at the door,
//                  password resets asked for at the next sign-in
//
// Palisade never sees a password, only its SHA-1. The app fails open: when
// Palisade does not answer within 50 ms the sign-in goes on as `allow`.
import express from "express";
import session from "express-session";
import passport from "passport";
import { Strategy as LocalStrategy } from "passport-local";
import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { pathToFileURL } from "node:url";
import { Client, PalisadeError, passwordSha1 } from "palisade-client";
import * as users from "./users.js";
import * as views from "./views.js";
import { Enforcer } from "./enforcer.js";

const DEVICE_COOKIE = "palisade_device";
const PENDING_MS = 5 * 60 * 1000; // a second factor must follow its password within 5 minutes

export function createApp({ palisade, enforcer, log = console, sessionSecret = randomUUID() }) {
  const app = express();
  // Client addresses come from X-Forwarded-For only when the proxy is local;
  // behind a real load balancer, name its addresses here instead.
  app.set("trust proxy", "loopback");
  app.use(express.urlencoded({ extended: false, limit: "8kb" }));
  app.use(
    session({
      secret: sessionSecret,
      resave: false,
      saveUninitialized: false,
      // Lax keeps other sites from posting these forms with the session.
      cookie: { httpOnly: true, sameSite: "lax", maxAge: 8 * 3600 * 1000 },
    }),
  );

  passport.use(
    new LocalStrategy((name, password, done) => {
      const user = users.find(name);
      done(null, user && users.checkPassword(user, password) ? user : false);
    }),
  );
  passport.serializeUser((user, done) => done(null, user.name));
  passport.deserializeUser((name, done) => done(null, users.find(name) ?? false));
  app.use(passport.session());

  // A stable, opaque id per browser: Palisade's `device_id`.
  app.use((req, res, next) => {
    const m = /(?:^|;\s*)palisade_device=([0-9a-f-]{36})/.exec(req.get("cookie") ?? "");
    req.deviceId = m ? m[1] : randomUUID();
    if (!m) res.cookie(DEVICE_COOKIE, req.deviceId, { httpOnly: true, sameSite: "lax", maxAge: 400 * 24 * 3600 * 1000 });
    next();
  });

  const who = (req) => req.user?.name;
  const render = (req, res, code, title, body, extra = {}) => res.status(code).send(views.page(title, body, { user: who(req), ...extra }));
  const eventFor = (req, kind, name, password, extra = {}) => ({
    event_id: randomUUID(),
    kind,
    user: name,
    ip: req.ip,
    user_agent: req.get("user-agent") ?? undefined,
    device_id: req.deviceId,
    ...(password ? { password_sha1: passwordSha1(password) } : {}),
    ...extra,
  });
  // A name Palisade refuses (a control character, a symbol outside ASCII,
  // over 256 bytes) is refused here too, as a form error, not a 500.
  const ask = async (event) => {
    let d;
    try {
      d = await palisade.decide({ ...event, outcome: "attempt" });
    } catch (e) {
      if (e instanceof PalisadeError && e.status === 422 && e.field === "user") return { refusedName: true };
      throw e;
    }
    if (d.degraded) log.warn(`palisade did not answer (${d.error}): ${event.kind} ${event.event_id} goes on as ${d.action}`);
    return d;
  };
  const requireUser = (req, res, next) => (req.user ? next() : res.redirect(303, "/login"));

  const signIn = (req, res, next, user, outcome) =>
    req.logIn(user, (err) => {
      if (err) return next(err);
      palisade.report(outcome);
      res.redirect(303, users.mustChangePassword(user) ? "/password" : "/");
    });

  app.get("/", requireUser, async (req, res) => {
    let flash = req.session.flash ? views.note(req.session.flash, "ok") : "";
    delete req.session.flash;
    let events = [];
    try {
      events = (await palisade.userEvents(req.user.name, { limit: 50 })).events;
    } catch (e) {
      // The account page works without Palisade; only the list is missing.
      log.warn(`palisade: recent sign-ins unavailable: ${e.message}`);
      flash += views.note("Your recent sign-ins cannot be shown just now.", "error");
    }
    render(req, res, 200, "Your account", views.account(req.user.name, events, flash), { status: "account" });
  });

  app.get("/login", (req, res) => render(req, res, 200, "Sign in", views.loginForm()));

  app.post("/login", async (req, res, next) => {
    try {
      const name = users.normalise(req.body.username);
      const password = String(req.body.password ?? "");
      const account = users.find(name);
      // What the feed already blocks is refused without a round trip.
      const held = enforcer.blocking({ user: name, ip: req.ip });
      if (held) {
        return render(req, res, 403, "Sign-in refused", views.note("Sign-in from this address is blocked for now. Try again later, or contact support.", "error") + views.loginForm("", name), {
          status: "enforced",
        });
      }
      const event = eventFor(req, "sign_in", name, password, { user_exists: Boolean(account) });
      const decision = await ask(event);
      if (decision.refusedName) {
        return render(req, res, 422, "Sign in", views.loginForm(views.note("Wrong user name or password.", "error")), { status: "wrong_password" });
      }
      if (decision.action === "block") {
        // Refused before the password is checked; the failure still counts.
        palisade.report({ ...event, outcome: "failure", failure_reason: "locked" });
        return render(req, res, 403, "Sign-in refused", views.note("This sign-in was refused for your account's safety. Try again later, or contact support with the reference below.", "error") + views.loginForm("", name), {
          eventId: event.event_id,
          status: "blocked",
        });
      }
      req.body.username = name;
      passport.authenticate("local", (err, user) => {
        if (err) return next(err);
        if (!user) {
          palisade.report({ ...event, outcome: "failure", failure_reason: account ? "bad_password" : "unknown_user" });
          return render(req, res, 401, "Sign in", views.loginForm(views.note("Wrong user name or password.", "error"), name), {
            eventId: event.event_id,
            status: "wrong_password",
          });
        }
        if (decision.action === "challenge") {
          // Every account here has a second factor, so `if_configured` and
          // `required` both ask for it.
          // The session keeps the event without the password's hash: a
          // session store is no place for it, and the outcome needs none.
          const { password_sha1: _, ...kept } = event;
          req.session.pending = { event: kept, since: Date.now() };
          return res.redirect(303, "/mfa");
        }
        signIn(req, res, next, user, { ...event, outcome: "success", mfa: "none" });
      })(req, res, next);
    } catch (e) {
      next(e);
    }
  });

  app.get("/mfa", (req, res) => {
    if (!req.session.pending) return res.redirect(303, "/login");
    render(req, res, 200, "Confirm it's you", views.codeForm(), { eventId: req.session.pending.event.event_id, status: "challenge" });
  });

  app.post("/mfa", (req, res, next) => {
    const pending = req.session.pending;
    delete req.session.pending;
    if (!pending || Date.now() - pending.since > PENDING_MS) return res.redirect(303, "/login");
    const user = users.find(pending.event.user);
    if (!user || !users.checkCode(user, req.body.code)) {
      // One code per password: a wrong one ends this sign-in.
      palisade.report({ ...pending.event, outcome: "failure", failure_reason: "mfa_failed", mfa: "failed" });
      return render(req, res, 401, "Sign in", views.loginForm(views.note("That code is not right. Sign in again.", "error")), {
        eventId: pending.event.event_id,
        status: "mfa_failed",
      });
    }
    signIn(req, res, next, user, { ...pending.event, outcome: "success", mfa: "passed" });
  });

  app.post("/logout", (req, res, next) => req.logout((err) => (err ? next(err) : res.redirect(303, "/login"))));

  app.get("/signup", (req, res) => render(req, res, 200, "Create an account", views.signupForm()));

  app.post("/signup", async (req, res, next) => {
    try {
      const name = users.normalise(req.body.username);
      const password = String(req.body.password ?? "");
      const again = (why, status, eventId) => render(req, res, 422, "Create an account", views.signupForm(views.note(why, "error"), name), { status, eventId });
      if (!name || password.length < 10) return again("Choose a user name and a password of at least 10 characters.", "invalid");
      const event = eventFor(req, "sign_up", name, password, { user_exists: false });
      const decision = await ask(event);
      if (decision.refusedName) return again("That user name cannot be used: choose one of letters, digits and common punctuation.", "invalid");
      if (decision.compromised_password) {
        return again("This password has appeared in a data breach, so attackers try it first. Choose another.", "breached", event.event_id);
      }
      if (decision.action === "block") return again("Sign-up from here is refused for now. Try again later.", "blocked", event.event_id);
      const user = users.create(name, password);
      if (!user) return again("That user name is taken.", "taken", event.event_id);
      palisade.report({ ...event, outcome: "success" });
      const t = users.totp(user);
      render(req, res, 200, "Set up your second factor", views.enrolled(user, t.toString(), user.totp.base32), { status: "enrolled", eventId: event.event_id });
    } catch (e) {
      next(e);
    }
  });

  app.get("/password", requireUser, (req, res) => render(req, res, 200, "Change password", views.passwordForm("", users.mustChangePassword(req.user)), { status: "password" }));

  app.post("/password", requireUser, async (req, res, next) => {
    try {
      const password = String(req.body.password ?? "");
      const forced = users.mustChangePassword(req.user);
      const again = (why, status, eventId) => render(req, res, 422, "Change password", views.passwordForm(views.note(why, "error"), forced), { status, eventId });
      if (password.length < 10) return again("Choose a password of at least 10 characters.", "invalid");
      const event = eventFor(req, "password_change", req.user.name, password, { user_exists: true });
      const decision = await ask(event);
      if (decision.compromised_password) {
        return again("This password has appeared in a data breach, so attackers try it first. Choose another.", "breached", event.event_id);
      }
      if (decision.action === "block") return again("Password changes from here are refused for now.", "blocked", event.event_id);
      users.setPassword(req.user, password);
      palisade.report({ ...event, outcome: "success" });
      req.session.flash = "Your password is changed.";
      res.redirect(303, "/");
    } catch (e) {
      next(e);
    }
  });

  // "This wasn't me" on one of the user's own recent sign-ins.
  app.post("/not-me", requireUser, async (req, res, next) => {
    try {
      const id = String(req.body.event_id ?? "");
      const mine = await palisade.userEvents(req.user.name, { limit: 100 });
      if (!mine.events.some((e) => e.event.event_id === id)) return render(req, res, 404, "Not found", views.note("No such sign-in on your account.", "error"));
      const effect = await palisade.feedback(id, "fraudulent");
      req.session.flash =
        "Thank you. Sign-ins to your account from that address are blocked" +
        (effect.password_reset_required ? ", and you will be asked for a new password." : ".");
      if (effect.password_reset_required) req.user.resetRequiredAt = Date.now();
      res.redirect(303, users.mustChangePassword(req.user) ? "/password" : "/");
    } catch (e) {
      next(e);
    }
  });

  // What the app holds from the feed, and the client's counts (outcomes
  // sent and dropped, decisions degraded). An operator's view: keep it off
  // the public internet in a real deployment.
  app.get("/ops/enforcements", (req, res) => res.json(enforcer.list()));
  app.get("/ops/palisade", (req, res) => res.json(palisade.stats));

  app.use((err, req, res, _next) => {
    log.error(err);
    render(req, res, 500, "Something went wrong", views.note("Please try again.", "error"));
  });
  return app;
}

function apiKey() {
  if (process.env.PALISADE_API_KEY) return process.env.PALISADE_API_KEY;
  const file = process.env.PALISADE_API_KEY_FILE ?? "palisade-data/api-key";
  return readFileSync(file, "utf8").trim();
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const palisade = new Client({
    baseUrl: process.env.PALISADE_URL ?? "http://127.0.0.1:8080",
    apiKey: apiKey(),
    decideTimeoutMs: Number(process.env.PALISADE_DECIDE_TIMEOUT_MS ?? 50),
    onError: (e) => console.warn(e.message),
  });
  const enforcer = new Enforcer(palisade);
  enforcer.run().catch((e) => console.error(`the enforcement feed stopped: ${e.message}`));
  const app = createApp({ palisade, enforcer });
  const server = app.listen(Number(process.env.PORT ?? 3000), process.env.HOST ?? "127.0.0.1", () => {
    const { address, port } = server.address();
    console.log(`example app listening on http://${address}:${port}`);
  });
  const stop = () => {
    enforcer.stop.abort();
    server.close(async () => {
      await palisade.close(2000);
      process.exit(0);
    });
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
}
