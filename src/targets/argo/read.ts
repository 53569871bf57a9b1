/**
 * Reading a workflow back (`GET <route>/{name}`): answered for the caller who started it — its
 * name starts with the caller's tag and its `stepgate.io/caller` label is that tag — or for a
 * caller the route's `readAnyExecution` allows, and only for workflows of this target's template.
 * Everyone else gets the same 404 as for a workflow that does not exist; a name that is not the
 * caller's is refused before argo-server is asked, so not even timing says whether it exists.
 */
import type { ArgoTargetConfig } from '../../config/schema.ts';
import { GatewayError } from '../../errors.ts';
import type { Identity } from '../../identity/types.ts';
import { callerTag, startedBy } from '../execution/naming.ts';
import { CALLER_LABEL, TEMPLATE_LABELS } from './labels.ts';
import type { Workflow } from './types.ts';

/** A workflow name as argo-server accepts one: a DNS-1123 label (at most 63 characters). */
const WORKFLOW_NAME = /^[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?$/;

export type ReadRefusal = 'malformed' | 'not_owner' | 'other_template';

export function notFound(): GatewayError {
  return new GatewayError('SG_ERR_EXECUTION_NOT_FOUND', 'no workflow with this name is visible to you');
}

/** Decides, without asking argo-server, whether `name` may be looked up for this caller. */
export function checkName(name: string | undefined, identity: Identity, readAny: boolean): ReadRefusal | undefined {
  if (name === undefined || !WORKFLOW_NAME.test(name)) return 'malformed';
  if (!readAny && !startedBy(name, identity)) return 'not_owner';
  return undefined;
}

/** Whether `workflow` is this target's, and this caller's (unless `readAny`). */
export function checkWorkflow(
  workflow: Workflow,
  config: ArgoTargetConfig,
  identity: Identity,
  readAny: boolean,
): ReadRefusal | undefined {
  const labels = workflow.metadata.labels ?? {};
  if (labels[TEMPLATE_LABELS[config.templateRef.kind]] !== config.templateRef.name) return 'other_template';
  if (!readAny && labels[CALLER_LABEL] !== callerTag(identity)) return 'not_owner';
  return undefined;
}

/** Argo's timestamps are RFC 3339 strings, or `null`/absent while unset. */
function time(value: string | null | undefined): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}

/**
 * What a caller sees of a workflow: its state and results, not its arguments (the envelope) and
 * not where its artifacts are stored.
 */
export function workflowView(workflow: Workflow): Record<string, unknown> {
  const { metadata, status = {} } = workflow;
  const outputs = status.outputs;
  return {
    name: metadata.name,
    namespace: metadata.namespace,
    ...(metadata.uid ? { uid: metadata.uid } : {}),
    // Until the controller has seen it, a workflow has no phase: it is waiting to run.
    phase: status.phase || 'Pending',
    ...(time(metadata.creationTimestamp) ? { createdAt: metadata.creationTimestamp } : {}),
    ...(time(status.startedAt) ? { startedAt: status.startedAt } : {}),
    ...(time(status.finishedAt) ? { finishedAt: status.finishedAt } : {}),
    ...(status.progress ? { progress: status.progress } : {}),
    ...(status.message ? { message: status.message } : {}),
    ...(outputs
      ? {
          outputs: {
            parameters: Object.fromEntries((outputs.parameters ?? []).map((p) => [p.name, p.value ?? null])),
            artifacts: (outputs.artifacts ?? []).map((a) => a.name),
          },
        }
      : {}),
  };
}
