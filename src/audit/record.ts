/**
 * The audit record (DESIGN.md "Audit record"): one JSON line per request, allowed or denied.
 * `buildAuditRecord` is the only way a record is made, so every field is capped and scrubbed in
 * one place: no token, cookie, `Authorization` value or secret ever reaches a sink.
 */
import type { TargetConfig } from '../config/schema.ts';
import type { Reason } from '../errors.ts';
import type { AuthMethod, Identity } from '../identity/types.ts';
import { shareCanonical } from '../canonical-json.ts';
import {
  CAPS,
  cap,
  copyClaimValue,
  looksLikeToken,
  setOwn,
  text,
  textList,
  TRUNCATED_MARKER,
  toJsonLine,
} from './sanitize.ts';

export interface AuditHttp {
  readonly method: string;
  /** The normalized path, without the query string (which can carry codes and tokens). */
  readonly path: string;
  readonly route?: string;
  readonly sourceIp: string;
  readonly userAgent: string;
}

export interface AuditCaller {
  readonly issuer: string;
  readonly iss: string;
  readonly sub: string;
  readonly clientId?: string;
  readonly authMethod: AuthMethod;
  readonly scopes: readonly string[];
  readonly roles: readonly string[];
  readonly groups: readonly string[];
  /** The token's `jti` or a keyed-hash prefix of it; never the token. */
  readonly tokenId: string;
  /** Only the claims named in `audit.claims`, keyed by the configured (dotted) path. */
  readonly claims: Readonly<Record<string, unknown>>;
}

export interface AuditTarget {
  readonly name: string;
  readonly type: TargetConfig['type'];
  readonly executionArn?: string;
  /** A Step Functions execution's name, or an Argo workflow's. */
  readonly executionName?: string;
  /** Argo: the workflow's namespace and, once argo-server has named it, its uid. */
  readonly namespace?: string;
  readonly uid?: string;
  /** The upstream's or AWS's error, when the forward failed. */
  readonly error?: string;
}

/** The records of one request that are not its single outcome record (see `AuditRecord.phase`). */
export type AuditPhase = 'intent' | 'open' | 'close';

/** How a WebSocket ended; `in` is from the client, `out` is to it (message payload bytes). */
export interface AuditWebSocket {
  readonly bytesIn: number;
  readonly bytesOut: number;
  readonly messagesIn: number;
  readonly messagesOut: number;
  /** Who ended it: a side's close frame, a side gone without one, or the gateway. */
  readonly end: WebSocketEnd;
  /** The close code the client received (RFC 6455 §7.4), when it received one. */
  readonly closeCode?: number;
}

export type WebSocketEnd =
  | 'client'
  | 'upstream'
  | 'client_gone'
  | 'upstream_gone'
  | 'token_expired'
  | 'session_ended'
  | 'shutdown';

/** One line of the audit log. Field order is the order written; with `hashChain`, members are in canonical (RFC 8785) order instead (chain.ts). */
export interface AuditRecord {
  readonly v: 1;
  readonly time: string;
  readonly requestId: string;
  /**
   * `intent`: the record an execution target writes (durably) before it starts anything; the
   * record of the outcome follows, with the same requestId, once the request is answered.
   * `open` and `close`: an upgraded request (WebSocket) has two records, the decision when it
   * opened and, with the same requestId, its end (`websocket`).
   */
  readonly phase?: AuditPhase;
  /** Only on a record of the decision listener: a proxy asked, stepgate forwarded nothing. */
  readonly mode?: 'decision';
  readonly decision: 'allow' | 'deny';
  readonly reason: Reason;
  /** The condition that failed, for a denied request. */
  readonly failed?: string;
  readonly status: number;
  /** Whether the request went to its target (an upstream, or AWS). */
  readonly forwarded?: boolean;
  readonly durationMs: number;
  readonly http: AuditHttp;
  readonly caller?: AuditCaller;
  readonly target?: AuditTarget;
  /** Only on the `close` record of a WebSocket. */
  readonly websocket?: AuditWebSocket;
  /** sha256 of the routes and policies that decided. */
  readonly policyVersion: string;
  /** Set by the audit log when `hashChain` is on (see chain.ts). */
  readonly prevHash?: string;
  readonly hash?: string;
}

/** What the request pipeline knows about a request; raw values, scrubbed by `buildAuditRecord`. */
export interface AuditInput {
  /** Defaults to now. */
  readonly time?: Date;
  readonly requestId: string;
  readonly phase?: AuditPhase;
  readonly mode?: 'decision';
  readonly decision: 'allow' | 'deny';
  readonly reason: Reason;
  readonly failed?: string;
  readonly status: number;
  readonly forwarded?: boolean;
  readonly durationMs: number;
  readonly http: {
    readonly method: string;
    /** Path as received or normalized; anything from `?` or `#` on is dropped. */
    readonly path: string;
    readonly route?: string;
    readonly sourceIp: string;
    readonly userAgent?: string;
  };
  readonly identity?: Identity;
  readonly target?: AuditTarget;
  readonly websocket?: AuditWebSocket;
  readonly policyVersion: string;
}

export interface BuildAuditRecordOptions {
  /** `audit.claims`: claim names or dotted paths to copy into `caller.claims`. */
  readonly claims: readonly string[];
}

/** Builds a record in which every string is capped and every claim value is safe to keep. */
export function buildAuditRecord(input: AuditInput, options: BuildAuditRecordOptions): AuditRecord {
  const { http } = input;
  const rawPath = typeof http.path === 'string' ? http.path : '';
  const query = rawPath.search(/[?#]/);
  // Assigned in DESIGN.md's field order, which is the order a line shows.
  const record: Record<string, unknown> = {
    v: 1,
    time: (input.time ?? new Date()).toISOString(),
    requestId: text(input.requestId),
    ...(input.phase !== undefined && PHASES.has(input.phase) ? { phase: input.phase } : {}),
    ...(input.mode === 'decision' ? { mode: 'decision' } : {}),
    decision: input.decision === 'allow' ? 'allow' : 'deny',
    reason: input.reason,
  };
  if (input.failed !== undefined) record['failed'] = text(input.failed);
  record['status'] = Number.isInteger(input.status) ? input.status : 0;
  if (input.forwarded !== undefined) record['forwarded'] = input.forwarded === true;
  record['durationMs'] = Number.isFinite(input.durationMs) ? Math.round(input.durationMs * 1000) / 1000 : 0;
  const method = text(http.method, 32);
  const path = text(query === -1 ? rawPath : rawPath.slice(0, query), CAPS.path);
  const sourceIp = text(http.sourceIp, 64);
  const userAgent = text(http.userAgent ?? '', CAPS.userAgent);
  const auditHttp: AuditHttp =
    http.route === undefined
      ? { method, path, sourceIp, userAgent }
      : { method, path, route: text(http.route), sourceIp, userAgent };
  record['http'] = auditHttp;
  if (input.identity) record['caller'] = callerOf(input.identity, options.claims);
  if (input.target) record['target'] = buildTarget(input.target);
  if (input.websocket) record['websocket'] = buildWebSocket(input.websocket);
  record['policyVersion'] = text(input.policyVersion);
  return record as unknown as AuditRecord;
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

/**
 * A frozen identity is the verified-token cache's, shared by every request with that token: from
 * its second record on, its caller is built once and shared (deeply frozen; the hash chain then
 * serializes it once as well). Seen once it is only marked (`null`), so tokens used once — the
 * worst case — keep nothing extra in memory. Anything else is built afresh.
 */
const callers = new WeakMap<
  Identity,
  { readonly paths: readonly string[]; readonly caller: AuditCaller } | null
>();

function callerOf(identity: Identity, claimPaths: readonly string[]): AuditCaller {
  if (!Object.isFrozen(identity)) return buildCaller(identity, claimPaths);
  const memo = callers.get(identity);
  if (memo === undefined) {
    callers.set(identity, null);
    return buildCaller(identity, claimPaths);
  }
  if (memo?.paths === claimPaths) return memo.caller;
  const caller = shareCanonical(buildCaller(identity, claimPaths));
  callers.set(identity, { paths: claimPaths, caller });
  return caller;
}

function buildCaller(identity: Identity, claimPaths: readonly string[]): AuditCaller {
  return {
    issuer: text(identity.issuer),
    iss: text(identity.iss),
    sub: text(identity.sub),
    ...(identity.clientId === undefined ? {} : { clientId: text(identity.clientId) }),
    authMethod: identity.authMethod === 'session' ? 'session' : 'bearer',
    scopes: textList(identity.scopes),
    roles: textList(identity.roles),
    groups: textList(identity.groups),
    tokenId: text(identity.tokenId, 128),
    claims: selectClaims(identity.claims, claimPaths),
  };
}

const PHASES = new Set<string>(['intent', 'open', 'close'] satisfies AuditPhase[]);

const WEBSOCKET_ENDS = new Set<string>([
  'client',
  'upstream',
  'client_gone',
  'upstream_gone',
  'token_expired',
  'session_ended',
  'shutdown',
] satisfies WebSocketEnd[]);

const count = (n: number) => (Number.isSafeInteger(n) && n >= 0 ? n : 0);

function buildWebSocket(ws: AuditWebSocket): AuditWebSocket {
  return {
    bytesIn: count(ws.bytesIn),
    bytesOut: count(ws.bytesOut),
    messagesIn: count(ws.messagesIn),
    messagesOut: count(ws.messagesOut),
    end: WEBSOCKET_ENDS.has(ws.end) ? ws.end : 'client_gone',
    ...(ws.closeCode === undefined ? {} : { closeCode: count(ws.closeCode) }),
  };
}

const TARGET_TYPES = new Set<string>(['http', 'stepfunctions', 'argo'] satisfies TargetConfig['type'][]);

function buildTarget(target: AuditTarget): AuditTarget {
  const out: Mutable<AuditTarget> = {
    name: text(target.name),
    type: TARGET_TYPES.has(target.type) ? target.type : 'http',
  };
  if (target.executionArn !== undefined) out.executionArn = text(target.executionArn, 512);
  if (target.executionName !== undefined) out.executionName = text(target.executionName);
  if (target.namespace !== undefined) out.namespace = text(target.namespace);
  if (target.uid !== undefined) out.uid = text(target.uid);
  if (target.error !== undefined) out.error = text(target.error, CAPS.error);
  return out;
}

/**
 * Copies the configured claims. A path is first looked up as a key (namespaced claims such as
 * `https://example.com/roles` contain dots), then as a dotted path through nested objects.
 */
export function selectClaims(
  claims: Readonly<Record<string, unknown>>,
  paths: readonly string[],
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  let budget = CAPS.claimsChars;
  for (const path of paths.slice(0, CAPS.items)) {
    // Paths come from the config, but are keys of the record all the same: capped, never a token.
    if (looksLikeToken(path)) continue;
    const value = copyClaimValue(lookup(claims, path));
    if (value === undefined) continue;
    const key = cap(path, CAPS.field);
    const size = key.length + JSON.stringify(value).length;
    setOwn(out, key, size <= budget ? value : TRUNCATED_MARKER);
    budget -= Math.min(size, budget);
  }
  return out;
}

function lookup(claims: Readonly<Record<string, unknown>>, path: string): unknown {
  if (Object.hasOwn(claims, path)) return claims[path];
  let node: unknown = claims;
  for (const part of path.split('.')) {
    if (node === null || typeof node !== 'object' || Array.isArray(node) || !Object.hasOwn(node, part)) {
      return undefined;
    }
    node = (node as Record<string, unknown>)[part];
  }
  return node;
}

/** The record as the one line a sink writes (without `\n`); see `toJsonLine`. */
export function serializeRecord(record: AuditRecord): string {
  return toJsonLine(record);
}
