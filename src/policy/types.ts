import type { Reason } from '../errors.ts';

/** The subset of an identity that policy reads. Pure data: policy never sees a request object. */
export interface Subject {
  readonly issuer: string;
  readonly scopes: readonly string[];
  readonly roles: readonly string[];
  readonly groups: readonly string[];
  readonly claims: Readonly<Record<string, unknown>>;
}

/** A decision and why. `failed` names the condition that did not hold, for the caller and the audit. */
export interface Decision {
  readonly allow: boolean;
  readonly reason: Reason;
  readonly failed?: string;
}
