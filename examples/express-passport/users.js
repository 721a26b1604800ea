// The app's own accounts: in memory, passwords hashed with scrypt (Node's
// own), each with a TOTP secret enrolled at sign-up. A real app keeps these
// in its database; nothing here is Palisade's business except that the
// password never leaves this file in the clear (Palisade sees its SHA-1).
import { randomBytes, scryptSync, timingSafeEqual } from "node:crypto";
import * as OTPAuth from "otpauth";
import { foldUser } from "palisade-client";

const users = new Map();

/**
 * Names as the app keys them: as Palisade keys them (trimmed, NFKC,
 * case-folded), so that `ＡＬＩＣＥ` cannot be a second account here whose
 * Palisade history, and "this wasn't me" buttons, are alice's.
 */
export const normalise = (name) => foldUser(String(name ?? ""));

function hash(password, salt = randomBytes(16)) {
  return { salt, digest: scryptSync(password, salt, 32) };
}

export function find(name) {
  return users.get(normalise(name)) ?? null;
}

export function create(name, password) {
  const key = normalise(name);
  if (users.has(key)) return null;
  const user = {
    name: key,
    password: hash(password),
    totp: new OTPAuth.Secret({ size: 20 }),
    // When Palisade last asked this user for a new password, and when they
    // chose one: a reset issued before the last change is already honoured.
    resetRequiredAt: null,
    passwordChangedAt: Date.now(),
  };
  users.set(key, user);
  return user;
}

export function checkPassword(user, password) {
  const { digest } = hash(password, user.password.salt);
  return timingSafeEqual(digest, user.password.digest);
}

export function setPassword(user, password) {
  user.password = hash(password);
  user.passwordChangedAt = Date.now();
}

export function totp(user) {
  return new OTPAuth.TOTP({ issuer: "Palisade example", label: user.name, secret: user.totp });
}

/** A code from the user's authenticator app, this period or the one either side. */
export function checkCode(user, code) {
  return totp(user).validate({ token: String(code ?? "").trim(), window: 1 }) !== null;
}

export function mustChangePassword(user) {
  return user.resetRequiredAt !== null && user.resetRequiredAt > user.passwordChangedAt;
}
