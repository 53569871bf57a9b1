/**
 * What stamps a workflow with its caller: labels a Kubernetes label selector can find, under
 * `stepgate.io/`. Label values are at most 63 characters of `[A-Za-z0-9._-]`, starting and
 * ending with an alphanumeric (Kubernetes "Labels and Selectors"), and argo-server splits its
 * `labels` option at `,` and `=`: every value here is made to fit, and one that had to change gets
 * a hash suffix, so it never equals another's.
 */
import { createHash } from 'node:crypto';
import type { Identity } from '../../identity/types.ts';
import { base32, callerTag, callerTagOf } from '../execution/naming.ts';

export const CALLER_LABEL = 'stepgate.io/caller';
export const ISSUER_LABEL = 'stepgate.io/issuer';
export const REQUEST_ID_LABEL = 'stepgate.io/request-id';

/** The label argo-server puts on a workflow submitted from a template (`workflow/common/common.go`). */
export const TEMPLATE_LABELS = {
  WorkflowTemplate: 'workflows.argoproj.io/workflow-template',
  ClusterWorkflowTemplate: 'workflows.argoproj.io/cluster-workflow-template',
} as const;

export type TemplateKind = keyof typeof TEMPLATE_LABELS;

const LABEL_VALUE = /^(?:[A-Za-z0-9](?:[A-Za-z0-9._-]{0,61}[A-Za-z0-9])?)?$/;

/** `text` as a valid label value: itself when it is one, else a sanitized prefix and a hash. */
export function labelValue(text: string): string {
  if (LABEL_VALUE.test(text)) return text;
  const hash = base32(createHash('sha256').update(text).digest(), 13);
  const prefix = text
    .replace(/[^A-Za-z0-9._-]+/g, '-')
    .slice(0, 48)
    .replace(/^[^A-Za-z0-9]+|[^A-Za-z0-9]+$/g, '');
  return prefix ? `${prefix}-${hash}` : hash;
}

/** The labels every workflow stepgate starts carries. */
export function workflowLabels(identity: Pick<Identity, 'issuer' | 'sub'>, requestId: string) {
  return {
    // The same tag that starts the workflow's name: ownership readable from either.
    [CALLER_LABEL]: callerTag(identity),
    [ISSUER_LABEL]: labelValue(identity.issuer),
    [REQUEST_ID_LABEL]: labelValue(requestId),
  };
}

/** Labels as argo-server's `submitOptions.labels` takes them: `KEY=VALUE,KEY=VALUE`. */
export function labelsOption(labels: Readonly<Record<string, string>>): string {
  return Object.entries(labels)
    .map(([key, value]) => `${key}=${value}`)
    .join(',');
}

/** The selector of one caller's (`<issuer>/<sub>`) workflows of one template (a Kubernetes equality selector). */
export function callerSelector(caller: string, kind: TemplateKind, template: string): string {
  return `${CALLER_LABEL}=${callerTagOf(caller)},${TEMPLATE_LABELS[kind]}=${template}`;
}
