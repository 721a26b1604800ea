// Types of Palisade's Node.js client; the contract is docs/openapi.json.

export declare const VERSION: string;
/** Connections kept open to Palisade per client. */
export declare const MAX_SOCKETS: number;
/** Most bytes of JSON in one outcome batch. */
export declare const MAX_BATCH_BYTES: number;

export type Kind = "sign_in" | "sign_up" | "password_change" | "password_reset";
export type Outcome = "attempt" | "success" | "failure";
export type FailureReason = "bad_password" | "unknown_user" | "mfa_failed" | "locked";
export type Action = "allow" | "challenge" | "block";
export type FailMode = "open" | "closed";

/** One sign-in event. Never a password: `password_sha1` (see `passwordSha1`). */
export interface Event {
  /** Filled with a random UUID when missing. */
  event_id?: string;
  /** RFC 3339; the server's receive time when missing. */
  timestamp?: string;
  kind: Kind;
  user: string;
  user_exists?: boolean;
  ip: string;
  outcome: Outcome;
  failure_reason?: FailureReason;
  user_agent?: string;
  device_id?: string;
  password_sha1?: string;
  mfa?: "none" | "passed" | "failed";
  tenant?: string;
  label?: string;
}

export interface Reason {
  code: string;
  score: number;
  detail: string;
}

export interface Decision {
  event_id: string;
  action: Action;
  risk_level: "low" | "medium" | "high";
  risk_score: number;
  reasons: Reason[];
  compromised_password: boolean;
  enforced: boolean;
  audit_action?: "challenge" | "block";
  mfa?: "if_configured" | "required";
  rules_version: string;
  model_version: string;
  /** True when Palisade did not answer in time and the fail mode answered instead. */
  degraded: boolean;
  /** Why the decision is degraded. */
  error?: string;
}

export interface Enforcement {
  action: "block" | "require_password_reset";
  scope: "ip" | "network" | "user_ip" | "user" | "asn" | "device";
  user?: string;
  tenant?: string;
  ip?: string;
  network?: string;
  asn?: number;
  device_id?: string;
  until?: string;
  rule: string;
  event_id: string;
  issued_at: string;
}

export interface FeedbackEffect {
  event_id?: string;
  verdict: "legitimate" | "fraudulent";
  enforcements: Enforcement[];
  [more: string]: unknown;
}

export interface Accepted {
  accepted: number;
  decided?: number;
  duplicates?: number;
}

export interface UserEvent {
  seq: number;
  event: Event;
  has_password?: boolean;
  decision?: Omit<Decision, "degraded" | "error">;
  feedback?: "legitimate" | "fraudulent" | null;
}

export interface UserEventsPage {
  events: UserEvent[];
  /** Pass as `before` for the next page; absent on the last. */
  next?: number | null;
}

export interface ClientOptions {
  /** Such as http://127.0.0.1:8080 */
  baseUrl: string;
  apiKey: string;
  /** The whole budget of a decide call (50). */
  decideTimeoutMs?: number;
  /** Every other call (2000). */
  timeoutMs?: number;
  /** What decide answers when Palisade does not ("open"). */
  failMode?: FailMode;
  /** Outcomes held for sending; beyond it new ones are dropped and counted (10000). */
  outcomeQueueSize?: number;
  /** Outcomes per POST /v1/events (500). */
  outcomeBatchSize?: number;
  /** Told of every outage, drop and retry: log it. */
  onError?: ((err: Error) => void) | null;
}

export interface Stats {
  sent: number;
  dropped: number;
  retries: number;
  degraded: number;
  duplicates: number;
}

export declare class PalisadeError extends Error {
  readonly status: number;
  readonly code: string;
  readonly field: string | null;
  constructor(status: number, code: string, message: string, field?: string | null);
}

export declare function passwordSha1(password: string): string;
export declare function enforcementKey(e: Enforcement): string;
/** A user name as the server keys it (trimmed, case-folded, RFC 8265 in outline). */
export declare function foldUser(user: string): string;
/** Whether an event key names a plain-text password, as the server judges it. */
export declare function isPasswordKey(key: string): boolean;

export declare class Client {
  constructor(options: ClientOptions);
  readonly baseUrl: string;
  readonly stats: Stats;
  readonly pending: number;
  decide(event: Event, options?: { failMode?: FailMode; timeoutMs?: number }): Promise<Decision>;
  report(event: Event): void;
  flush(timeoutMs?: number): Promise<boolean>;
  close(timeoutMs?: number): Promise<boolean>;
  sendEvents(events: Event[], options?: { timeoutMs?: number }): Promise<Accepted>;
  feedback(eventId: string, verdict: "legitimate" | "fraudulent"): Promise<FeedbackEffect>;
  userEvents(user: string, options?: { limit?: number; before?: number; tenant?: string }): Promise<UserEventsPage>;
  enforcements(options?: { signal?: AbortSignal; idleMs?: number }): AsyncGenerator<Enforcement, void, void>;
  isPasswordBreached(password: string): Promise<number>;
  health(): Promise<boolean>;
}
