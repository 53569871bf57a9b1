/**
 * The configuration schema: every key of DESIGN.md, strict objects everywhere so that a typo is
 * an error rather than a silently dropped policy. Cross-field checks live in `cross-check.ts`.
 */
import { z } from 'zod';

const name = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/, 'must be 1-63 letters, digits, ".", "_" or "-"');

const url = z.string().refine((v) => URL.canParse(v), 'must be an absolute URL');

const LOOPBACK_HOSTS = new Set(['localhost', '::1', '[::1]']);

/** Issuer and JWKS URLs must be https, except on loopback (tests, the demo). */
export function isSecureOrLoopback(value: string): boolean {
  const u = new URL(value);
  if (u.protocol === 'https:') return true;
  return (
    u.protocol === 'http:' && (LOOPBACK_HOSTS.has(u.hostname) || /^127\.\d+\.\d+\.\d+$/.test(u.hostname))
  );
}

/** An URL that keys or identities are fetched from. */
const trustUrl = z.string().superRefine((v, ctx) => {
  if (!URL.canParse(v)) ctx.addIssue({ code: 'custom', message: 'must be an absolute URL' });
  else if (!isSecureOrLoopback(v))
    ctx.addIssue({ code: 'custom', message: 'must be https (http only on loopback)' });
});

const httpUrl = z.string().superRefine((v, ctx) => {
  if (!URL.canParse(v) || !/^https?:$/.test(new URL(v).protocol)) {
    ctx.addIssue({ code: 'custom', message: 'must be an absolute http(s) URL' });
  }
});

const port = z.number().int().min(0).max(65535);

/** Asymmetric JWS algorithms only (RFC 8725 §3.1): never `none`, never HS*. */
export const SIGNING_ALGORITHMS = [
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'ES256',
  'ES384',
  'ES512',
  'EdDSA',
] as const;

const server = z
  .strictObject({
    host: z.string().default('0.0.0.0'),
    port: port.default(8080),
    publicUrl: url.optional(),
    trustProxy: z.union([z.literal(false), z.array(z.string().min(1)).min(1)]).default(false),
    bodyLimitBytes: z.number().int().positive().default(1_048_576),
    /** Time to receive the whole request, headers and body (Fastify's requestTimeout is 0 by default). */
    requestTimeoutMs: z.number().int().positive().default(30_000),
    headersTimeoutMs: z.number().int().positive().default(10_000),
    keepAliveTimeoutMs: z.number().int().positive().default(72_000),
    maxHeaderBytes: z.number().int().min(1024).max(65_536).default(16_384),
    /** How long SIGTERM waits for in-flight requests before closing their sockets. */
    shutdownGraceMs: z.number().int().nonnegative().default(10_000),
    /**
     * HTTPS (and HTTP/2 over ALPN) on the public listener. The pair is re-read when its files
     * change; a pair that does not load is logged and the one in use kept.
     */
    tls: z
      .strictObject({
        certFile: z.string().min(1),
        keyFile: z.string().min(1),
      })
      .optional(),
  })
  .prefault({});

const admin = z
  .strictObject({
    host: z.string().default('127.0.0.1'),
    port: port.default(9090),
  })
  .prefault({});

export const PRESETS = ['keycloak', 'okta', 'github-actions', 'generic'] as const;

const issuer = z.strictObject({
  name,
  issuer: trustUrl,
  audiences: z.array(z.string().min(1)).min(1, 'must name at least one audience'),
  preset: z.enum(PRESETS).default('generic'),
  jwksUri: trustUrl.optional(),
  algorithms: z.array(z.enum(SIGNING_ALGORITHMS)).min(1).default(['RS256', 'ES256']),
  clockSkewSeconds: z.number().int().min(0).max(300).default(30),
  /** At most one JWKS fetch per issuer per this many seconds for unknown `kid`s. */
  jwksCooldownSeconds: z.number().int().min(1).max(3600).default(30),
  /** How long fetched keys are considered fresh; stale keys stay usable while the IdP is down. */
  jwksCacheMaxAgeSeconds: z.number().int().min(30).default(600),
  /** A PEM file of CAs to trust for this issuer's https URLs (a private PKI), besides the system's. */
  caFile: z.string().min(1).optional(),
  introspection: z
    .strictObject({
      clientId: z.string().min(1),
      clientSecret: z.string().min(1),
      /** Default: the discovery document's `introspection_endpoint`. */
      endpoint: trustUrl.optional(),
      /**
       * `opaque`: tokens that are not a JWS are introspected (RFC 7662), JWTs verified locally.
       * `all`: JWTs too, after their local verification, so a revoked token is refused.
       */
      tokens: z.enum(['opaque', 'all']).default('opaque'),
      /** An active result is reused for at most this long (and never past the token's `exp`). */
      cacheSeconds: z.number().int().min(0).max(3600).default(60),
      /** An inactive result is reused this long (junk tokens do not each cost a call). */
      negativeCacheSeconds: z.number().int().min(0).max(300).default(10),
    })
    .optional(),
});

const sso = z.strictObject({
  issuer: name,
  clientId: z.string().min(1),
  clientSecret: z.string().min(1).optional(),
  scopes: z.array(z.string().min(1)).default(['openid', 'profile', 'email']),
  cookieSecret: z.string().min(32, 'must be at least 32 bytes'),
  sessionTtlSeconds: z.number().int().positive().default(28_800),
  /** A session unused this long has ended (the idle time-out); at most sessionTtlSeconds. */
  sessionIdleSeconds: z.number().int().positive().default(3600),
  store: z.enum(['cookie', 'redis']).default('cookie'),
});

const httpTarget = z.strictObject({
  type: z.literal('http'),
  url: httpUrl,
  timeoutMs: z.number().int().positive().default(10_000),
  stripPrefix: z
    .string()
    .regex(/^\/[^?#]*[^/]$/, 'must start with "/" and not end with "/"')
    .optional(),
  forwardAuthorization: z.boolean().default(false),
  /** PEM certificates that sign the upstream's (a private PKI); default the system's. */
  caFile: z.string().min(1).optional(),
  /** A client certificate (PEM chain) and its key, for upstreams that require mutual TLS. */
  certFile: z.string().min(1).optional(),
  keyFile: z.string().min(1).optional(),
});

const stepFunctionsTarget = z.strictObject({
  type: z.literal('stepfunctions'),
  stateMachineArn: z
    .string()
    .regex(/^arn:aws[a-z-]*:states:[a-z0-9-]+:\d{12}:stateMachine:[A-Za-z0-9_-]{1,80}$/, {
      message: 'must be a state machine ARN',
    }),
  mode: z.enum(['async', 'sync']).default('async'),
  region: z.string().min(1),
  endpoint: url.optional(),
  input: z.enum(['envelope', 'body']).default('envelope'),
  timeoutMs: z.number().int().positive().default(10_000),
  credentials: z
    .strictObject({
      assumeRoleArn: z.string().regex(/^arn:aws[a-z-]*:iam::\d{12}:role\/.+$/, 'must be an IAM role ARN'),
      sourceIdentity: z.string().min(1).optional(),
      sessionTags: z.array(z.string().min(1)).max(50).optional(),
      /** Lifetime of each caller's session; renewed a little before it ends. */
      durationSeconds: z.number().int().min(900).max(43_200).default(900),
      /** Optional: an STS-compatible endpoint (tests, the demo); default the regional STS. */
      stsEndpoint: url.optional(),
    })
    .optional(),
});

/** A Kubernetes DNS-1123 label: a namespace. */
const dnsLabel = z
  .string()
  .regex(/^[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?$/, 'must be a Kubernetes name: 1-63 of a-z, 0-9 and "-"');
/** A Kubernetes DNS-1123 subdomain: a WorkflowTemplate's name. */
const dnsSubdomain = z
  .string()
  .max(253)
  .regex(
    /^[a-z0-9](?:[-a-z0-9]*[a-z0-9])?(?:\.[a-z0-9](?:[-a-z0-9]*[a-z0-9])?)*$/,
    'must be a Kubernetes name: a-z, 0-9, "-" and "."',
  );

/** The name of the parameter that carries the envelope; no body key may take it. */
export const ARGO_CALLER_PARAMETER = 'stepgate-caller';

const argoTarget = z.strictObject({
  type: z.literal('argo'),
  /** argo-server; the service-account token is sent there, so https (http only on loopback). */
  server: trustUrl,
  namespace: dnsLabel,
  templateRef: z.strictObject({
    kind: z.enum(['WorkflowTemplate', 'ClusterWorkflowTemplate']),
    name: dnsSubdomain,
  }),
  /** The service-account token, re-read when the file changes. */
  tokenFile: z.string().min(1),
  /** PEM certificates that sign argo-server's; default the system's. */
  caFile: z.string().min(1).optional(),
  timeoutMs: z.number().int().positive().default(10_000),
  /** Body keys that become template parameters; any other body key is refused (400). */
  parameters: z
    .array(z.string().regex(/^[A-Za-z0-9_-]{1,128}$/, 'must be an Argo parameter name: A-Z, a-z, 0-9, "_" and "-"'))
    .default([]),
  /** The template to run first; default the WorkflowTemplate's own `spec.entrypoint`. */
  entrypoint: z
    .string()
    .regex(/^[A-Za-z0-9][-A-Za-z0-9]{0,127}$/, 'must be an Argo template name')
    .optional(),
});

const target = z.discriminatedUnion('type', [httpTarget, stepFunctionsTarget, argoTarget]);

const stringOrGlobs = z.union([z.string(), z.array(z.string()).min(1)]);

/** One set of conditions; all must hold. */
const conditionSet = z.strictObject({
  scopes: z.array(z.string().min(1)).min(1).optional(),
  anyScopes: z.array(z.string().min(1)).min(1).optional(),
  roles: z.array(z.string().min(1)).min(1).optional(),
  groups: z.array(z.string().min(1)).min(1).optional(),
  claims: z.record(z.string().min(1), stringOrGlobs).optional(),
});

const allow = conditionSet.extend({
  anyOf: z.array(conditionSet).min(1).optional(),
});

export const HTTP_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'] as const;

const route = z.strictObject({
  name,
  path: z.string().startsWith('/', 'must start with "/"'),
  methods: z.array(z.enum(HTTP_METHODS)).min(1).default(['GET', 'HEAD']),
  target: name,
  auth: z
    .array(z.enum(['bearer', 'session']))
    .min(1)
    .default(['bearer']),
  issuers: z.array(name).min(1).optional(),
  allow: allow.optional(),
  public: z.boolean().default(false),
  /**
   * Step Functions and Argo targets, GET: who may read every execution (workflow) of the target
   * (same conditions as `allow`). Everyone else the route allows reads only what they started.
   */
  readAnyExecution: allow.optional(),
  /**
   * The route accepts a WebSocket upgrade (RFC 6455) on GET; elsewhere an upgrade is refused
   * (400 `SG_ERR_UPGRADE_REFUSED`). HTTP targets only.
   */
  websocket: z.boolean().optional(),
  rateLimit: z
    .strictObject({
      perCaller: z.number().int().positive(),
      windowSeconds: z.number().int().positive(),
    })
    .optional(),
});

const auditSink = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('stdout') }),
  z.strictObject({ type: z.literal('file'), path: z.string().min(1) }),
]);

const audit = z
  .strictObject({
    sinks: z.array(auditSink).default([{ type: 'stdout' }]),
    claims: z.array(z.string().min(1)).default([]),
    failClosed: z.boolean().default(true),
    hashChain: z.boolean().default(true),
    /**
     * Signed checkpoints in the hash chain (audit/checkpoint.ts): an Ed25519 private key from
     * `keyFile` (PEM or JWK) or `key` (its text, e.g. from the environment), and how often.
     */
    checkpoints: z
      .strictObject({
        keyFile: z.string().min(1).optional(),
        key: z.string().min(1).optional(),
        everyRecords: z.number().int().positive().default(1000),
        everySeconds: z.number().int().positive().default(60),
      })
      .optional(),
    /** Key for token fingerprints (HMAC); a random one per process when unset. */
    fingerprintKey: z.string().min(16).optional(),
  })
  .prefault({});

/** Identity headers a decision answer may carry (DESIGN.md "Request path" → HTTP targets). */
export const DECISION_HEADERS = [
  'x-stepgate-subject',
  'x-stepgate-issuer',
  'x-stepgate-client',
  'x-stepgate-scopes',
  'x-stepgate-groups',
  'x-stepgate-email',
  'x-stepgate-assertion',
] as const;

/** A path on the decision listener: "/" then letters, digits, ".", "_", "~", "-" or "/"; no trailing "/". */
const decisionPath = z
  .string()
  .regex(/^\/[A-Za-z0-9._~/-]*[A-Za-z0-9._~-]$/, 'must be a path such as "/envoy" (no trailing "/")');

/** Which identity headers an allow answer carries (default: all of them). */
const upstreamHeaders = z.array(z.enum(DECISION_HEADERS)).min(1).default([...DECISION_HEADERS]);

/**
 * Decision mode (DESIGN.md "Decision mode"): a listener that answers "may this request pass?"
 * for Envoy `ext_authz` (and Istio's `envoyExtAuthzHttp`), nginx `auth_request` and Traefik
 * `forwardAuth`, and never forwards.
 */
const decision = z.strictObject({
  host: z.string().default('127.0.0.1'),
  port: port.default(8081),
  /** Only these peers may name the original method, host and URI (IP addresses or CIDRs). */
  trustedPeers: z.array(z.string().min(1)).min(1, 'must name at least one proxy address or CIDR'),
  /** Envoy HTTP ext_authz: the original path arrives under `pathPrefix` (HttpService.path_prefix). */
  envoy: z.strictObject({ pathPrefix: decisionPath.default('/envoy'), upstreamHeaders }).optional(),
  /** nginx auth_request: `X-Original-Method` and `X-Original-URI` on requests to `path`. */
  nginx: z.strictObject({ path: decisionPath.default('/nginx'), upstreamHeaders }).optional(),
  /** Traefik forwardAuth: `X-Forwarded-Method`, `-Uri`, `-Host`, `-Proto` on requests to `path`. */
  traefik: z.strictObject({ path: decisionPath.default('/traefik'), upstreamHeaders }).optional(),
});
/**
 * `assertion.keys`: the ES256 keys `X-Stepgate-Assertion` is signed with, so every replica signs
 * and publishes the same ones. Each is a P-256 private (or, past the first, public) key as PEM or
 * JWK text, from a `file` or inline in `key` (typically `${STEPGATE_ASSERTION_KEY}`); read and
 * checked by `config/assertion-keys.ts`. Without it each process generates its own key.
 */
const assertionKey = z
  .strictObject({
    file: z.string().min(1).optional(),
    key: z.string().min(1).optional(),
    /** Default: the key's own JWK `kid`, else its RFC 7638 thumbprint (the same on every replica). */
    kid: z
      .string()
      .regex(/^[\x21-\x7e]{1,128}$/, 'must be 1-128 visible ASCII characters')
      .optional(),
  })
  .refine((entry) => (entry.file === undefined) !== (entry.key === undefined), 'give one of file or key');

const assertion = z
  .strictObject({
    /** The first signs; all are published at /.well-known/stepgate/jwks.json (rotation: add, switch, remove). */
    keys: z.array(assertionKey).min(1).optional(),
  })
  .prefault({});

const logging = z
  .strictObject({
    level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    /** `json`: one JSON object a line (pino); `pretty`: one readable line per entry, for a terminal. */
    format: z.enum(['json', 'pretty']).default('json'),
    /** Logs never share a stream with the audit `stdout` sink by accident: stderr unless chosen. */
    destination: z.enum(['stderr', 'stdout']).default('stderr'),
  })
  .prefault({});

export const configSchema = z.strictObject({
  server,
  admin,
  issuers: z.array(issuer).default([]),
  sso: sso.optional(),
  decision: decision.optional(),
  redis: z
    .strictObject({
      url: url,
      /** Prefix of every key, so that several gateways (or tests) can share one Redis. */
      keyPrefix: z.string().min(1).default('stepgate:'),
    })
    .optional(),
  targets: z.record(name, target),
  routes: z.array(route),
  audit,
  assertion,
  logging,
});

export type Config = z.output<typeof configSchema>;
export type IssuerConfig = Config['issuers'][number];
export type RouteConfig = Config['routes'][number];
export type AllowConfig = NonNullable<RouteConfig['allow']>;
export type ConditionSetConfig = Omit<AllowConfig, 'anyOf'>;
export type TargetConfig = Config['targets'][string];
export type HttpTargetConfig = Extract<TargetConfig, { type: 'http' }>;
export type StepFunctionsTargetConfig = Extract<TargetConfig, { type: 'stepfunctions' }>;
export type ArgoTargetConfig = Extract<TargetConfig, { type: 'argo' }>;
export type AuditConfig = Config['audit'];
export type AuditSinkConfig = AuditConfig['sinks'][number];
export type CheckpointsConfig = NonNullable<AuditConfig['checkpoints']>;
export type ServerConfig = Config['server'];
export type DecisionConfig = NonNullable<Config['decision']>;
export type DecisionHeader = (typeof DECISION_HEADERS)[number];
export type AssertionConfig = Config['assertion'];
export type LoggingConfig = Config['logging'];
export type HttpMethod = (typeof HTTP_METHODS)[number];
