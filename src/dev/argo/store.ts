/**
 * The state behind the local argo-server: WorkflowTemplates, ClusterWorkflowTemplates and the
 * workflows submitted from them, and what argo-server's SubmitWorkflow does with a request
 * (argoproj/argo-workflows `server/workflow/workflow_server.go`, `workflow/util/util.go`
 * `ApplySubmitOpts`, `workflow/validate/validate.go`), in its order: resource kind, labels,
 * parameters, the template (it must exist), the entrypoint, the arguments against the template's
 * declared parameters (a value for each, enums), the name, then the create (AlreadyExists).
 * Instead of a controller, a workflow's phase follows an injected clock: Pending, Running, then
 * Succeeded or Failed, with outputs from the template's `run`.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { argoError } from './status.ts';

export type TemplateKind = 'WorkflowTemplate' | 'ClusterWorkflowTemplate';

export interface LocalParameter {
  readonly name: string;
  /** The default; a parameter without one must be supplied at submit. */
  readonly value?: string;
  readonly enum?: readonly string[];
}

/** What a run of the template ends with: outputs, or a failure message. */
export interface RunResult {
  readonly outputs?: Readonly<Record<string, string>>;
  readonly fail?: string;
}

export interface LocalTemplate {
  readonly kind?: TemplateKind;
  /** A WorkflowTemplate's namespace (default `default`); ClusterWorkflowTemplates have none. */
  readonly namespace?: string;
  readonly name: string;
  /** `spec.entrypoint`, default `main`. */
  readonly entrypoint?: string;
  /** The names of its templates (an entrypoint must be one); default `[entrypoint]`. */
  readonly templates?: readonly string[];
  /** `spec.arguments.parameters`. */
  readonly parameters?: readonly LocalParameter[];
  /** What a run produces from its parameters (defaults applied); default: success, no outputs. */
  readonly run?: (parameters: Readonly<Record<string, string>>) => RunResult;
  /** How long a workflow of this template is Pending, then Running (default: the server's). */
  readonly pendingMs?: number;
  readonly runningMs?: number;
}

export interface SubmitOpts {
  name?: string;
  generateName?: string;
  entryPoint?: string;
  parameters?: string[];
  labels?: string;
  annotations?: string;
  serviceAccount?: string;
  priority?: number;
  podPriorityClassName?: string;
  dryRun?: boolean;
  serverDryRun?: boolean;
}

interface Stored {
  readonly workflow: Record<string, unknown> & { metadata: Metadata; spec: Record<string, unknown> };
  readonly template: LocalTemplate;
  readonly created: number;
  readonly parameters: Record<string, string>;
  result?: RunResult;
}

interface Metadata {
  name: string;
  namespace: string;
  uid: string;
  resourceVersion: string;
  generation: number;
  creationTimestamp: string;
  generateName?: string;
  labels: Record<string, string>;
  annotations?: Record<string, string>;
}

const TEMPLATE_KINDS: Readonly<Record<string, TemplateKind>> = {
  WorkflowTemplate: 'WorkflowTemplate',
  workflowtemplate: 'WorkflowTemplate',
  workflowtemplates: 'WorkflowTemplate',
  wftmpl: 'WorkflowTemplate',
  ClusterWorkflowTemplate: 'ClusterWorkflowTemplate',
  clusterworkflowtemplate: 'ClusterWorkflowTemplate',
  clusterworkflowtemplates: 'ClusterWorkflowTemplate',
  cwftmpl: 'ClusterWorkflowTemplate',
};

const DNS_SUBDOMAIN = /^[a-z0-9](?:[-a-z0-9]*[a-z0-9])?(?:\.[a-z0-9](?:[-a-z0-9]*[a-z0-9])?)*$/;
const LABEL_KEY = /^(?:[a-z0-9](?:[-a-z0-9.]{0,251}[a-z0-9])?\/)?[A-Za-z0-9](?:[-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;
const LABEL_VALUE = /^(?:[A-Za-z0-9](?:[-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$/;

/** Kubernetes timestamps: RFC 3339 in UTC, to the second. */
export function k8sTime(ms: number): string {
  return new Date(Math.floor(ms / 1000) * 1000).toISOString().replace('.000Z', 'Z');
}

/** argo-server's `cmdutil.ParseLabels`: `K=V,K=V`, no `=` or `,` inside. */
function parseLabels(spec: string, what: 'labels' | 'Annotations'): Record<string, string> {
  const out: Record<string, string> = {};
  for (const item of spec.split(',')) {
    const parts = item.split('=');
    if (parts.length !== 2 || parts[0] === '') {
      throw argoError('Internal', `expected ${what} of the form: NAME1=VALUE2,NAME2=VALUE2. Received: ${spec}`);
    }
    out[parts[0]!] = parts[1]!;
  }
  return out;
}

export class WorkflowStore {
  readonly #templates = new Map<string, LocalTemplate>();
  readonly #workflows = new Map<string, Stored>();
  #resourceVersion = 1000;
  readonly #now: () => number;
  readonly #timing: { readonly pendingMs: number; readonly runningMs: number };

  constructor(now: () => number, timing: { pendingMs: number; runningMs: number }) {
    this.#now = now;
    this.#timing = timing;
  }

  static templateKey(kind: TemplateKind, namespace: string | undefined, name: string): string {
    return kind === 'ClusterWorkflowTemplate' ? `cluster/${name}` : `${namespace ?? 'default'}/${name}`;
  }

  putTemplate(template: LocalTemplate): void {
    const kind = template.kind ?? 'WorkflowTemplate';
    this.#templates.set(WorkflowStore.templateKey(kind, template.namespace, template.name), template);
  }

  deleteTemplate(kind: TemplateKind, namespace: string | undefined, name: string): void {
    this.#templates.delete(WorkflowStore.templateKey(kind, namespace, name));
  }

  /** The kind a submit's `resourceKind` names; a 400 for any other (CronWorkflow is not kept here). */
  static templateKind(resourceKind: unknown): TemplateKind {
    const kind = typeof resourceKind === 'string' ? TEMPLATE_KINDS[resourceKind] : undefined;
    if (!kind) throw argoError('InvalidArgument', `Resource kind '${String(resourceKind)}' is not supported for submitting`);
    return kind;
  }

  /** The template a submit names; NotFound as the template lister says it. */
  template(kind: TemplateKind, namespace: string, name: string): LocalTemplate {
    const template = this.#templates.get(WorkflowStore.templateKey(kind, namespace, name));
    if (!template) {
      const resource = kind === 'ClusterWorkflowTemplate' ? 'clusterworkflowtemplate' : 'workflowtemplate';
      throw argoError('NotFound', `${resource}.argoproj.io "${name}" not found`);
    }
    return template;
  }

  /**
   * SubmitWorkflow after authentication and before the create permission: the workflow it would
   * create, or the error argo-server gives. `create` stores it (AlreadyExists when the name is taken).
   */
  prepare(namespace: string, kind: TemplateKind, templateName: string, opts: SubmitOpts, template: LocalTemplate) {
    const labels: Record<string, string> = {
      [kind === 'ClusterWorkflowTemplate'
        ? 'workflows.argoproj.io/cluster-workflow-template'
        : 'workflows.argoproj.io/workflow-template']: templateName,
    };
    if (opts.labels) Object.assign(labels, parseLabels(opts.labels, 'labels'));
    const annotations = opts.annotations ? parseLabels(opts.annotations, 'Annotations') : undefined;
    const submitted: { name: string; value: string }[] = [];
    for (const parameter of opts.parameters ?? []) {
      const at = parameter.indexOf('=');
      if (at < 0) throw argoError('Internal', `expected parameter of the form: NAME=VALUE. Received: ${parameter}`);
      submitted.push({ name: parameter.slice(0, at), value: parameter.slice(at + 1) });
    }
    const name = opts.name || `${opts.generateName || `${templateName}-`}${randomBytes(4).readUInt32BE().toString(36).slice(0, 5)}`;
    if (name.length > 63) {
      throw argoError('InvalidArgument', `workflow name "${name}" must not be more than 63 characters long (currently ${name.length})`);
    }
    const entrypoint = opts.entryPoint || template.entrypoint || 'main';
    if (!(template.templates ?? [template.entrypoint ?? 'main']).includes(entrypoint)) {
      throw argoError('InvalidArgument', `spec.entrypoint template ${entrypoint} not found`);
    }
    // validate.Workflow with Submit: the template's declared parameters merged with the submitted
    // ones (util.MergeParameters: submitted first); each needs a value, and an enum's must be in it.
    const values: Record<string, string> = {};
    for (const p of template.parameters ?? []) if (p.value !== undefined) values[p.name] = p.value;
    for (const p of submitted) values[p.name] = p.value;
    for (const p of template.parameters ?? []) {
      const value = values[p.name];
      if (value === undefined) {
        throw argoError('InvalidArgument', `spec.arguments.${p.name}.value or spec.arguments.${p.name}.valueFrom is required`);
      }
      if (p.enum && !p.enum.includes(value)) {
        throw argoError('InvalidArgument', `spec.arguments.${p.name}.value should be present in spec.arguments.${p.name}.enum list`);
      }
    }
    const invalid = (field: string, detail: string) =>
      argoError('InvalidArgument', `Workflow.argoproj.io "${name}" is invalid: ${field}: Invalid value: ${detail}`);
    if (!DNS_SUBDOMAIN.test(name)) throw invalid('metadata.name', JSON.stringify(name));
    for (const [key, value] of Object.entries(labels)) {
      if (!LABEL_KEY.test(key)) throw invalid('metadata.labels', JSON.stringify(key));
      if (!LABEL_VALUE.test(value)) throw invalid('metadata.labels', JSON.stringify(value));
    }
    const metadata: Metadata = {
      name,
      namespace,
      uid: randomUUID(),
      resourceVersion: '',
      generation: 1,
      creationTimestamp: k8sTime(this.#now()),
      labels,
      ...(opts.name ? {} : { generateName: opts.generateName || `${templateName}-` }),
      ...(annotations ? { annotations } : {}),
    };
    const spec: Record<string, unknown> = {
      workflowTemplateRef: { name: templateName, ...(kind === 'ClusterWorkflowTemplate' ? { clusterScope: true } : {}) },
      ...(submitted.length ? { arguments: { parameters: submitted } } : {}),
      ...(opts.entryPoint ? { entrypoint: opts.entryPoint } : {}),
      ...(opts.serviceAccount ? { serviceAccountName: opts.serviceAccount } : {}),
      ...(opts.podPriorityClassName ? { podPriorityClassName: opts.podPriorityClassName } : {}),
      ...(opts.priority !== undefined ? { priority: opts.priority } : {}),
    };
    return { metadata, spec, template, parameters: values };
  }

  create(prepared: ReturnType<WorkflowStore['prepare']>): Record<string, unknown> {
    const { metadata, spec, template, parameters } = prepared;
    const key = `${metadata.namespace}/${metadata.name}`;
    if (this.#workflows.has(key)) throw argoError('AlreadyExists', `workflows.argoproj.io "${metadata.name}" already exists`);
    metadata.resourceVersion = String(++this.#resourceVersion);
    const stored: Stored = { workflow: { metadata, spec }, template, parameters, created: this.#now() };
    this.#workflows.set(key, stored);
    return this.view(stored);
  }

  get(namespace: string, name: string): Record<string, unknown> {
    const stored = this.#workflows.get(`${namespace}/${name}`);
    if (!stored) throw argoError('NotFound', `workflows.argoproj.io "${name}" not found`);
    return this.view(stored);
  }

  list(namespace: string | undefined): Record<string, unknown>[] {
    return [...this.#workflows.values()]
      .filter((s) => namespace === undefined || s.workflow.metadata.namespace === namespace)
      .map((s) => this.view(s));
  }

  /** The workflow as argo-server would show it now: its phase follows the clock. */
  view(stored: Stored): Record<string, unknown> {
    const pendingMs = stored.template.pendingMs ?? this.#timing.pendingMs;
    const runningMs = stored.template.runningMs ?? this.#timing.runningMs;
    const elapsed = this.#now() - stored.created;
    const labels = { ...stored.workflow.metadata.labels };
    let status: Record<string, unknown> = { startedAt: null, finishedAt: null };
    if (elapsed > 0) {
      const phase = elapsed < pendingMs ? 'Pending' : elapsed < pendingMs + runningMs ? 'Running' : 'done';
      status = { phase: 'Pending', startedAt: k8sTime(stored.created), finishedAt: null, progress: '0/1' };
      if (phase === 'Running') status = { ...status, phase: 'Running' };
      if (phase === 'done') {
        stored.result ??= runSafely(stored);
        const { fail, outputs } = stored.result;
        status = {
          ...status,
          phase: fail === undefined ? 'Succeeded' : 'Failed',
          finishedAt: k8sTime(stored.created + pendingMs + runningMs),
          progress: fail === undefined ? '1/1' : '0/1',
          ...(fail === undefined ? {} : { message: fail }),
          ...(outputs
            ? { outputs: { parameters: Object.entries(outputs).map(([name, value]) => ({ name, value })) } }
            : {}),
        };
      }
      labels['workflows.argoproj.io/phase'] = status['phase'] as string;
      labels['workflows.argoproj.io/completed'] = String(phase === 'done');
    }
    return { ...stored.workflow, metadata: { ...stored.workflow.metadata, labels }, status };
  }
}

function runSafely(stored: Stored): RunResult {
  try {
    return stored.template.run?.(stored.parameters) ?? {};
  } catch (err) {
    return { fail: String((err as Error).message ?? err) };
  }
}
