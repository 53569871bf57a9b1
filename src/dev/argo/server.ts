/**
 * A local argo-server for tests and the demo: the REST API argo-server serves through its
 * grpc-gateway, as documented in argoproj/argo-workflows `docs/rest-api.md`,
 * `api/openapi-spec/swagger.json` and `pkg/apiclient/workflow/workflow.proto` (WorkflowService):
 *
 * - `POST /api/v1/workflows/{namespace}/submit` (`WorkflowSubmitRequest`: `resourceKind`,
 *   `resourceName`, `submitOptions` as `SubmitOpts`) → the created `Workflow`;
 * - `GET /api/v1/workflows/{namespace}/{name}` → the `Workflow`;
 * - `GET /api/v1/workflows/{namespace}?listOptions.labelSelector=…&listOptions.limit=…` →
 *   `WorkflowList` (`items` is `null` when empty, as Go encodes a nil slice).
 *
 * Authentication is argo-server's `--auth-mode client`: the bearer token is a Kubernetes
 * service-account token, and what it may do is that account's RBAC (verbs on `workflows`,
 * `workflowtemplates`, `clusterworkflowtemplates`). Errors are grpc-gateway's `{code, message}`
 * with its HTTP statuses (401, 403, 404, 409, 400, 500). Stricter than argo-server in one way: a
 * request body with a field the API does not define is refused (400), so a client cannot send
 * something it believes argo-server reads. Tests inject faults per operation.
 *
 *   const argo = await startLocalArgo({ serviceAccounts: [{ token, name: 'argo/stepgate' }],
 *     templates: [{ namespace: 'ci', name: 'deploy', parameters: [{ name: 'version' }] }] });
 */
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { listenTracked } from '../listen.ts';
import { parseLabelSelector } from './selector.ts';
import { type ArgoStatus, ArgoStatusError, argoError } from './status.ts';
import { type LocalTemplate, type SubmitOpts, type TemplateKind, WorkflowStore } from './store.ts';

export type { LocalParameter, LocalTemplate, RunResult, TemplateKind } from './store.ts';

export type Verb = 'create' | 'get' | 'list';
export type Resource = 'workflows' | 'workflowtemplates' | 'clusterworkflowtemplates';

export interface LocalServiceAccount {
  readonly token: string;
  /** `<namespace>/<name>`: argo-server's creator label and RBAC messages name it. */
  readonly name: string;
  /** What its RBAC allows; default create/get/list workflows and get (cluster)workflowtemplates. */
  readonly can?: Readonly<Partial<Record<Resource, readonly Verb[]>>>;
}

export interface LocalArgoOptions {
  /** Default 127.0.0.1 and 0 (a free port). */
  readonly host?: string;
  readonly port?: number;
  /** Serve https with this PEM key and certificate. */
  readonly tls?: { readonly key: string | Buffer; readonly cert: string | Buffer };
  readonly serviceAccounts: readonly LocalServiceAccount[];
  readonly templates?: readonly LocalTemplate[];
  /** The controller's clock (tests advance it); default `Date.now`. */
  readonly clock?: () => number;
  /** How long a new workflow is Pending, then Running; default 1 s and 3 s. */
  readonly pendingMs?: number;
  readonly runningMs?: number;
}

export type Operation = 'submit' | 'get' | 'list';

export type Fault =
  /** This error (grpc-gateway's shape), before anything happens. */
  | { readonly kind: 'error'; readonly status: ArgoStatus; readonly message?: string }
  /** The workflow is created, then the answer is a 500: the client cannot know it worked. */
  | { readonly kind: 'fail-after' }
  /** A 200 whose body is not JSON. */
  | { readonly kind: 'garbage' }
  | { readonly kind: 'hang' }
  | { readonly kind: 'reset' }
  | { readonly kind: 'delay'; readonly ms: number };

export interface CallRecord {
  /** When it arrived (wall clock, `Date.now()`), not the controller's clock. */
  readonly at: number;
  readonly operation: Operation | 'unknown';
  readonly method: string;
  /** Path and query as received. */
  readonly url: string;
  /** The service account the bearer token named; `undefined` for none or an unknown token. */
  readonly serviceAccount: string | undefined;
  /** The request body, parsed. */
  readonly body: unknown;
  readonly status: number;
  readonly grpcStatus?: ArgoStatus;
}

export interface LocalArgo {
  /** `http(s)://HOST:PORT`: argo-server's URL. */
  readonly url: string;
  /** Every request answered, in order (refused ones too). */
  readonly calls: readonly CallRecord[];
  putTemplate(template: LocalTemplate): void;
  deleteTemplate(kind: TemplateKind, namespace: string | undefined, name: string): void;
  /** Replaces the service accounts (a token rotation: the old token stops working). */
  setServiceAccounts(accounts: readonly LocalServiceAccount[]): void;
  /** Workflows as GET shows them now, in `namespace` or all. */
  workflows(namespace?: string): Record<string, unknown>[];
  /** Queues `fault` for the next `times` calls of `operation`. */
  inject(operation: Operation, fault: Fault, times?: number): void;
  close(): Promise<void>;
}

const ALL: Readonly<Record<Resource, readonly Verb[]>> = {
  workflows: ['create', 'get', 'list'],
  workflowtemplates: ['get'],
  clusterworkflowtemplates: ['get'],
};

const MAX_BODY = 4 * 1024 * 1024;

const SUBMIT_FIELDS = new Set(['namespace', 'resourceKind', 'resourceName', 'submitOptions']);
const SUBMIT_OPTS_FIELDS = new Set([
  'name', 'generateName', 'entryPoint', 'parameters', 'labels', 'annotations', 'serviceAccount',
  'priority', 'podPriorityClassName', 'dryRun', 'serverDryRun', 'ownerReference', 'artifacts',
]);

function unknownField(object: Record<string, unknown>, known: ReadonlySet<string>, where: string): void {
  const field = Object.keys(object).find((k) => !known.has(k));
  if (field !== undefined) throw argoError('InvalidArgument', `unknown field "${field}" in ${where}`);
}

/** The Kubernetes "forbidden" message argo-server passes on. */
function forbidden(
  account: LocalServiceAccount,
  verb: Verb,
  resource: Resource,
  namespace: string | undefined,
  name?: string,
) {
  const [ns, sa] = account.name.split('/');
  const object = name === undefined ? `${resource}.argoproj.io` : `${resource}.argoproj.io "${name}"`;
  const where = namespace === undefined ? 'at the cluster scope' : `in the namespace "${namespace}"`;
  const user = `system:serviceaccount:${ns}:${sa}`;
  return argoError(
    'PermissionDenied',
    `${object} is forbidden: User "${user}" cannot ${verb} resource "${resource}" in API group "argoproj.io" ${where}`,
  );
}

export async function startLocalArgo(options: LocalArgoOptions): Promise<LocalArgo> {
  const store = new WorkflowStore(options.clock ?? Date.now, {
    pendingMs: options.pendingMs ?? 1000,
    runningMs: options.runningMs ?? 3000,
  });
  for (const template of options.templates ?? []) store.putTemplate(template);
  let accounts = [...options.serviceAccounts];
  const calls: CallRecord[] = [];
  const faults = new Map<Operation, Fault[]>();

  function authenticate(req: IncomingMessage): LocalServiceAccount {
    const header = req.headers.authorization;
    if (!header) throw argoError('Unauthenticated', 'token not valid. see https://argo-workflows.readthedocs.io/en/latest/faq/');
    const token = /^Bearer (.+)$/.exec(header)?.[1];
    const account = accounts.find((a) => a.token === token);
    if (!account) throw argoError('Unauthenticated', 'Unauthorized');
    return account;
  }

  function authorize(account: LocalServiceAccount, verb: Verb, resource: Resource, namespace?: string, name?: string) {
    if (!(account.can ?? ALL)[resource]?.includes(verb)) {
      if (verb === 'list') {
        throw argoError(
          'PermissionDenied',
          `Permission denied, you are not allowed to list workflows in namespace "${namespace}". Maybe you want to specify a namespace with query parameter \`.namespace=${namespace}\`?`,
        );
      }
      throw forbidden(account, verb, resource, namespace, name);
    }
  }

  function submit(account: LocalServiceAccount, namespace: string, body: unknown) {
    if (body === null || typeof body !== 'object' || Array.isArray(body)) throw argoError('InvalidArgument', 'the request body must be a WorkflowSubmitRequest');
    const request = body as Record<string, unknown>;
    unknownField(request, SUBMIT_FIELDS, 'WorkflowSubmitRequest');
    const opts = (request['submitOptions'] ?? {}) as SubmitOpts & Record<string, unknown>;
    if (typeof opts !== 'object' || Array.isArray(opts)) throw argoError('InvalidArgument', 'submitOptions must be a SubmitOpts');
    unknownField(opts, SUBMIT_OPTS_FIELDS, 'SubmitOpts');
    for (const field of ['name', 'generateName', 'entryPoint', 'labels', 'annotations', 'serviceAccount'] as const) {
      if (opts[field] !== undefined && typeof opts[field] !== 'string') throw argoError('InvalidArgument', `submitOptions.${field} must be a string`);
    }
    if (opts.parameters !== undefined && (!Array.isArray(opts.parameters) || opts.parameters.some((p) => typeof p !== 'string'))) {
      throw argoError('InvalidArgument', 'submitOptions.parameters must be a list of strings');
    }
    const kind = WorkflowStore.templateKind(request['resourceKind']);
    const templateName = String(request['resourceName'] ?? '');
    const resource = kind === 'ClusterWorkflowTemplate' ? 'clusterworkflowtemplates' : 'workflowtemplates';
    authorize(account, 'get', resource, kind === 'ClusterWorkflowTemplate' ? undefined : namespace, templateName);
    const template = store.template(kind, namespace, templateName);
    const prepared = store.prepare(namespace, kind, templateName, opts, template);
    // The creator labels name whoever's token it was (workflow/creator: dnsFriendly(sub)).
    prepared.metadata.labels['workflows.argoproj.io/creator'] =
      `system-serviceaccount-${account.name.replace('/', '-')}`;
    if (opts.dryRun || opts.serverDryRun) return { metadata: prepared.metadata, spec: prepared.spec };
    authorize(account, 'create', 'workflows', namespace);
    return store.create(prepared);
  }

  function list(account: LocalServiceAccount, namespace: string, query: URLSearchParams) {
    authorize(account, 'list', 'workflows', namespace);
    let selector;
    try {
      selector = parseLabelSelector(query.get('listOptions.labelSelector') ?? '');
    } catch (err) {
      throw argoError('InvalidArgument', (err as Error).message);
    }
    const limitText = query.get('listOptions.limit');
    const limit = limitText === null ? 0 : Number(limitText);
    if (!Number.isInteger(limit) || limit < 0) throw argoError('InvalidArgument', `invalid listOptions.limit ${limitText}`);
    const items = store
      .list(namespace)
      .filter((w) => selector((w['metadata'] as { labels: Record<string, string> }).labels))
      .sort(newestFirst)
      .slice(0, limit || undefined);
    // A nil Go slice: `null`, not `[]`.
    return { metadata: { resourceVersion: String(Date.now()) }, items: items.length ? items : null };
  }

  function get(account: LocalServiceAccount, namespace: string, name: string) {
    authorize(account, 'get', 'workflows', namespace, name);
    return store.get(namespace, name);
  }

  /** Which operation a request is; `undefined` for none of the three. */
  function operationOf(req: IncomingMessage, url: URL) {
    const m = /^\/api\/v1\/workflows\/([^/]+)(?:\/([^/]+))?$/.exec(url.pathname);
    if (!m) return undefined;
    const namespace = decodeURIComponent(m[1]!);
    const name = m[2] === undefined ? undefined : decodeURIComponent(m[2]);
    if (req.method === 'POST' && name === 'submit') return { operation: 'submit', namespace } as const;
    if (req.method === 'GET' && name !== undefined) return { operation: 'get', namespace, name } as const;
    if (req.method === 'GET' && name === undefined) return { operation: 'list', namespace } as const;
    return undefined;
  }

  function run(req: IncomingMessage, url: URL, body: unknown): unknown {
    const op = operationOf(req, url);
    if (!op) throw argoError('NotFound', 'Not Found');
    const account = authenticate(req);
    switch (op.operation) {
      case 'submit':
        return submit(account, op.namespace, body);
      case 'get':
        return get(account, op.namespace, op.name);
      case 'list':
        return list(account, op.namespace, url.searchParams);
    }
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of req) {
      size += (chunk as Buffer).length;
      if (size <= MAX_BODY) chunks.push(chunk as Buffer);
    }
    const at = Date.now();
    const url = new URL(req.url ?? '/', 'http://local');
    const operation = operationOf(req, url)?.operation ?? 'unknown';
    const text = Buffer.concat(chunks).toString('utf8');
    let body: unknown;
    const record = (status: number, grpcStatus?: ArgoStatus) =>
      calls.push({
        at,
        operation,
        method: req.method ?? '',
        url: req.url ?? '',
        serviceAccount: accounts.find((a) => req.headers.authorization === `Bearer ${a.token}`)?.name,
        body,
        status,
        ...(grpcStatus ? { grpcStatus } : {}),
      });
    try {
      if (size > MAX_BODY) {
        throw argoError('ResourceExhausted', `grpc: received message larger than max (${size} vs. ${MAX_BODY})`);
      }
      try {
        body = text === '' ? undefined : JSON.parse(text);
      } catch (err) {
        throw argoError('InvalidArgument', (err as Error).message);
      }
      const fault = operation === 'unknown' ? undefined : faults.get(operation)?.shift();
      // A hanging request is never answered: its socket ends when the server closes.
      if (fault?.kind === 'hang' || fault?.kind === 'reset') {
        record(0);
        if (fault.kind === 'reset') req.socket.destroy();
        return;
      }
      if (fault?.kind === 'delay') await new Promise((resolve) => setTimeout(resolve, fault.ms));
      if (fault?.kind === 'error') throw argoError(fault.status, fault.message ?? fault.status);
      const result = run(req, url, body);
      if (fault?.kind === 'fail-after') throw argoError('Internal', 'etcdserver: request timed out');
      record(200);
      res
        .writeHead(200, { 'content-type': 'application/json' })
        .end(fault?.kind === 'garbage' ? '<html>not argo</html>' : JSON.stringify(result));
    } catch (err) {
      const error = err instanceof ArgoStatusError ? err : argoError('Internal', String(err));
      record(error.httpStatus, error.status);
      res.writeHead(error.httpStatus, { 'content-type': 'application/json' }).end(error.body());
    }
  }

  const handler = (req: IncomingMessage, res: ServerResponse) => {
    handle(req, res).catch(() => res.destroy());
  };
  const server = options.tls
    ? createHttpsServer({ key: options.tls.key, cert: options.tls.cert }, handler)
    : createHttpServer(handler);
  const listening = await listenTracked(server, options.host, options.port);
  return {
    url: `${options.tls ? 'https' : 'http'}://${listening.authority}`,
    calls,
    putTemplate: (template) => store.putTemplate(template),
    deleteTemplate: (kind, namespace, name) => store.deleteTemplate(kind, namespace, name),
    setServiceAccounts(next) {
      accounts = [...next];
    },
    workflows: (namespace) => store.list(namespace),
    inject(operation, fault, times = 1) {
      const queue = faults.get(operation) ?? [];
      for (let i = 0; i < times; i++) queue.push(fault);
      faults.set(operation, queue);
    },
    close: () => listening.close(),
  };
}

/** argo-server's page order (`Workflows.Less`): running ones first, newest first. */
function newestFirst(a: Record<string, unknown>, b: Record<string, unknown>): number {
  const finished = (w: Record<string, unknown>) => (w['status'] as { finishedAt?: string | null }).finishedAt ?? '';
  const created = (w: Record<string, unknown>) => (w['metadata'] as { creationTimestamp: string }).creationTimestamp;
  const [fa, fb] = [finished(a), finished(b)];
  if (!fa && !fb) return created(b).localeCompare(created(a));
  if (!fa) return -1;
  if (!fb) return 1;
  return fb.localeCompare(fa);
}
