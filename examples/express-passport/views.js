// Plain HTML, every value escaped. Each page that follows a decision carries
// the Palisade event id in `data-event-id` and as a support reference: what
// support quotes to explain a refusal, and what the browser test looks up.
const esc = (s) =>
  String(s ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);

export function page(title, body, { eventId, user, status = "" } = {}) {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(title)} · Example sign-in</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font:16px/1.5 system-ui,sans-serif;max-width:34rem;margin:3rem auto;padding:0 1rem;color:#1a1a1a}
h1{font-size:1.5rem} label{display:block;margin:.8rem 0 .2rem} input{font:inherit;padding:.4rem;width:100%;box-sizing:border-box}
button{font:inherit;margin-top:1rem;padding:.4rem 1rem} .note{padding:.6rem .8rem;border-radius:.3rem;background:#eef}
.error{background:#fdd} .ok{background:#dfd} table{border-collapse:collapse;width:100%;font-size:.9rem} td,th{padding:.3rem;border-bottom:1px solid #ddd;text-align:left}
small{color:#555} nav{margin-bottom:1rem}
</style></head>
<body data-status="${esc(status)}"${eventId ? ` data-event-id="${esc(eventId)}"` : ""}>
<nav>${user ? `Signed in as <b>${esc(user)}</b> · <a href="/">Account</a> · <a href="/password">Change password</a> · <form method="post" action="/logout" style="display:inline"><button style="margin:0">Sign out</button></form>` : `<a href="/login">Sign in</a> · <a href="/signup">Create an account</a>`}</nav>
<main>
<h1>${esc(title)}</h1>
${body}
${eventId ? `<p><small>Reference for support: <code>${esc(eventId)}</code></small></p>` : ""}
</main></body></html>`;
}

export const note = (text, kind = "") => `<p class="note ${kind}" role="${kind === "error" ? "alert" : "status"}">${esc(text)}</p>`;

export function loginForm(message = "", name = "") {
  return `${message}
<form method="post" action="/login">
<label for="username">User name</label><input id="username" name="username" autocomplete="username" value="${esc(name)}" required>
<label for="password">Password</label><input id="password" name="password" type="password" autocomplete="current-password" required>
<button type="submit">Sign in</button></form>`;
}

export function signupForm(message = "", name = "") {
  return `${message}
<form method="post" action="/signup">
<label for="username">User name</label><input id="username" name="username" autocomplete="username" value="${esc(name)}" required>
<label for="password">Password (at least 10 characters)</label><input id="password" name="password" type="password" autocomplete="new-password" minlength="10" required>
<button type="submit">Create account</button></form>`;
}

export function enrolled(user, uri, secret) {
  return `<p>Add this account to your authenticator app. You will be asked for its code when a sign-in looks unusual.</p>
<p>Secret: <code id="totp-secret" data-secret="${esc(secret)}">${esc(secret)}</code></p>
<p><small>${esc(uri)}</small></p>
<p><a href="/login">Continue to sign in</a></p>`;
}

export function codeForm(message = "") {
  return `${message}
<p>This sign-in looks different from your usual ones. Enter the code from your authenticator app.</p>
<form method="post" action="/mfa">
<label for="code">Code</label><input id="code" name="code" inputmode="numeric" autocomplete="one-time-code" pattern="[0-9]{6}" required>
<button type="submit">Verify</button></form>`;
}

export function passwordForm(message = "", forced = false) {
  return `${message}
${forced ? note("For your safety, choose a new password before you continue.", "error") : ""}
<form method="post" action="/password">
<label for="password">New password (at least 10 characters)</label><input id="password" name="password" type="password" autocomplete="new-password" minlength="10" required>
<button type="submit">Change password</button></form>`;
}

const describe = (e) => {
  const ua = e.event.user_agent ?? "";
  const browser = /Firefox\//.test(ua) ? "Firefox" : /Chrome\//.test(ua) ? "Chrome" : /Safari\//.test(ua) ? "Safari" : "an unknown browser";
  const os = /iPhone|iPad/.test(ua) ? "iOS" : /Mac OS X/.test(ua) ? "macOS" : /Windows/.test(ua) ? "Windows" : /Android/.test(ua) ? "Android" : /Linux/.test(ua) ? "Linux" : "";
  return `${browser}${os ? ` on ${os}` : ""} from ${e.event.ip}`;
};
const outcomeText = (e) =>
  e.event.outcome === "success"
    ? e.event.mfa === "passed" ? "signed in after the second factor" : "signed in"
    : e.event.failure_reason === "mfa_failed" ? "right password, wrong code"
    : e.event.failure_reason === "locked" ? "refused" : "wrong password";

export function account(user, events, message = "") {
  const rows = events
    .filter((e) => e.event.kind === "sign_in" && e.event.outcome !== "attempt")
    .map(
      (e) => `<tr data-event-id="${esc(e.event.event_id)}"><td>${esc(e.event.timestamp?.slice(0, 19).replace("T", " "))}</td><td>${esc(describe(e))}</td><td>${esc(outcomeText(e))}</td>
<td>${e.feedback === "fraudulent" ? "reported" : `<form method="post" action="/not-me"><input type="hidden" name="event_id" value="${esc(e.event.event_id)}"><button style="margin:0">This wasn't me</button></form>`}</td></tr>`,
    )
    .join("\n");
  return `${message}<h2>Recent sign-ins</h2>
<table><thead><tr><th>When (UTC)</th><th>Where</th><th>What happened</th><th></th></tr></thead><tbody>
${rows || `<tr><td colspan="4">None yet</td></tr>`}
</tbody></table>`;
}
