/**
 * The identity provider is never silent: every failed discovery or JWKS fetch is logged with its
 * issuer, URL and cause — once when an outage starts, again when the cause changes, and otherwise
 * at most once per `repeatMs` with the count of failures since (an outage is not a log flood) —
 * and the recovery is logged once, with how long it lasted.
 */
import type { ProviderError } from './provider-fetch.ts';

export interface ProviderLog {
  error(fields: object, message: string): void;
  info(fields: object, message: string): void;
}

export interface ProviderMonitor {
  failed(issuer: string, error: ProviderError): void;
  succeeded(issuer: string): void;
}

interface Outage {
  readonly since: number;
  failures: number;
  lastLoggedAt: number;
  lastCause: string;
}

/** One minute between repeats of the same failure. */
const DEFAULT_REPEAT_MS = 60_000;

export function createProviderMonitor(options: {
  readonly log: () => ProviderLog;
  readonly now?: () => number;
  readonly repeatMs?: number;
}): ProviderMonitor {
  const now = options.now ?? Date.now;
  const repeatMs = options.repeatMs ?? DEFAULT_REPEAT_MS;
  const outages = new Map<string, Outage>();
  return {
    failed(issuer, error) {
      const at = now();
      const cause = `${error.kind} ${error.url} ${error.message}`;
      const outage = outages.get(issuer);
      const fields = { issuer, url: error.url, cause: error.kind, detail: error.message };
      if (!outage) {
        outages.set(issuer, { since: at, failures: 1, lastLoggedAt: at, lastCause: cause });
        options.log().error(fields, `identity provider of issuer "${issuer}" failed: ${error.message}`);
        return;
      }
      outage.failures++;
      if (cause === outage.lastCause && at - outage.lastLoggedAt < repeatMs) return;
      outage.lastLoggedAt = at;
      outage.lastCause = cause;
      options.log().error(
        { ...fields, failures: outage.failures, failingSince: new Date(outage.since).toISOString() },
        `identity provider of issuer "${issuer}" still failing (${outage.failures} failures): ${error.message}`,
      );
    },
    succeeded(issuer) {
      const outage = outages.get(issuer);
      if (!outage) return;
      outages.delete(issuer);
      const seconds = Math.round((now() - outage.since) / 1000);
      options.log().info(
        { issuer, failures: outage.failures, downSeconds: seconds },
        `identity provider of issuer "${issuer}" recovered after ${outage.failures} failures in ${seconds} s`,
      );
    },
  };
}
