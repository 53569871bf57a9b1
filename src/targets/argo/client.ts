/**
 * argo-server's REST API (the grpc-gateway in front of its WorkflowService; argoproj/argo-workflows
 * `pkg/apiclient/workflow/workflow.proto`, `docs/rest-api.md`) over pooled undici connections:
 * submit from a template, get one workflow, list by label selector. Each call carries the
 * service-account token as `Authorization: Bearer` and has one deadline (`timeoutMs`) for
 * connecting, sending and reading. TLS is verified, against `caFile` when given.
 *
 * An answer that is not a 2xx is an `ArgoApiError` with grpc-gateway's error body
 * (`{code, message}`: the gRPC status code and text); transport failures are undici's errors.
 */
import { Agent, request } from 'undici';
import type { SubmitRequest, Workflow, WorkflowList } from './types.ts';

/** Workflows with many nodes are large; anything beyond this is not a workflow we want to read. */
const MAX_RESPONSE_BYTES = 16 * 1024 * 1024;

/** gRPC status codes (google.golang.org/grpc/codes) by number, for audit records and logs. */
const GRPC_CODES: Readonly<Record<number, string>> = {
  1: 'Canceled',
  2: 'Unknown',
  3: 'InvalidArgument',
  4: 'DeadlineExceeded',
  5: 'NotFound',
  6: 'AlreadyExists',
  7: 'PermissionDenied',
  8: 'ResourceExhausted',
  9: 'FailedPrecondition',
  10: 'Aborted',
  11: 'OutOfRange',
  12: 'Unimplemented',
  13: 'Internal',
  14: 'Unavailable',
  15: 'DataLoss',
  16: 'Unauthenticated',
};

/** argo-server answered with an error status. */
export class ArgoApiError extends Error {
  readonly status: number;
  /** The gRPC status name (`AlreadyExists`), or `HTTP <status>` when the body has no code. */
  readonly grpcCode: string;
  /** argo-server's own words (`message`), for logs and for problems the caller can act on. */
  readonly apiMessage: string;
  constructor(status: number, body: unknown) {
    const { code, message } = (body ?? {}) as { code?: unknown; message?: unknown };
    const grpcCode = typeof code === 'number' ? (GRPC_CODES[code] ?? `code ${code}`) : `HTTP ${status}`;
    const apiMessage = typeof message === 'string' ? message : '';
    super(`argo-server answered ${status} ${grpcCode}: ${apiMessage}`);
    this.name = 'ArgoApiError';
    this.status = status;
    this.grpcCode = grpcCode;
    this.apiMessage = apiMessage;
  }
}

/** argo-server's answer was not the JSON document the API promises. */
export class ArgoProtocolError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ArgoProtocolError';
  }
}

export interface ArgoClientOptions {
  /** The argo-server URL; may carry a base path (an ingress prefix). */
  readonly server: string;
  readonly timeoutMs: number;
  /** PEM certificates to trust instead of the system's (`caFile`). */
  readonly ca?: string | undefined;
}

export interface ArgoClient {
  submit(token: string, body: SubmitRequest): Promise<Workflow>;
  get(token: string, namespace: string, name: string): Promise<Workflow>;
  /** The first page (`limit`) of the workflows that match `labelSelector`. */
  list(token: string, namespace: string, labelSelector: string, limit: number): Promise<readonly Workflow[]>;
  close(): Promise<void>;
}

export function createArgoClient(options: ArgoClientOptions): ArgoClient {
  const base = options.server.replace(/\/+$/, '');
  const agent = new Agent({
    connections: 32,
    keepAliveTimeout: 30_000,
    maxResponseSize: MAX_RESPONSE_BYTES,
    connect: { rejectUnauthorized: true, ...(options.ca ? { ca: options.ca } : {}) },
  });

  async function call<T>(token: string, method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> {
    const res = await request(base + path, {
      dispatcher: agent,
      method,
      headers: {
        authorization: `Bearer ${token}`,
        accept: 'application/json',
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      signal: AbortSignal.timeout(options.timeoutMs),
    });
    const text = await res.body.text();
    let json: unknown;
    try {
      json = text === '' ? undefined : JSON.parse(text);
    } catch (err) {
      if (res.statusCode < 300) throw new ArgoProtocolError('argo-server answered with something else than JSON', { cause: err });
    }
    if (res.statusCode < 200 || res.statusCode >= 300) throw new ArgoApiError(res.statusCode, json);
    if (json === null || typeof json !== 'object') throw new ArgoProtocolError('argo-server answered without a document');
    return json as T;
  }

  const workflowPath = (namespace: string, name?: string) =>
    `/api/v1/workflows/${encodeURIComponent(namespace)}${name === undefined ? '' : `/${encodeURIComponent(name)}`}`;

  return {
    async submit(token, body) {
      return checked(await call<Workflow>(token, 'POST', `${workflowPath(body.namespace)}/submit`, body));
    },
    async get(token, namespace, name) {
      return checked(await call<Workflow>(token, 'GET', workflowPath(namespace, name)));
    },
    async list(token, namespace, labelSelector, limit) {
      const query = new URLSearchParams({
        'listOptions.labelSelector': labelSelector,
        'listOptions.limit': String(limit),
      });
      const list = await call<WorkflowList>(token, 'GET', `${workflowPath(namespace)}?${query}`);
      return (list.items ?? []).filter((w) => typeof w?.metadata?.name === 'string');
    },
    close: () => agent.close(),
  };
}

/** A workflow without a name is not one. */
function checked(workflow: Workflow): Workflow {
  if (typeof workflow.metadata?.name !== 'string') throw new ArgoProtocolError('argo-server answered without a workflow');
  return workflow;
}
