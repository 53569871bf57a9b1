/**
 * A caller's recent workflows of one Argo target, for the `/.stepgate/` page: listed by the
 * caller's label and the template's (`listOptions.labelSelector`), with the gateway's own token.
 * argo-server sorts only within a page, so the first page (100) is sorted here, newest first.
 */
import type { ArgoTargetConfig } from '../../config/schema.ts';
import type { RecentExecution } from '../execution/call.ts';
import type { ArgoClient } from './client.ts';
import { callerSelector } from './labels.ts';

const PAGE = 100;

export async function listRecentWorkflows(
  client: ArgoClient,
  token: string,
  target: { readonly name: string; readonly config: ArgoTargetConfig; readonly statusBase: string | undefined },
  caller: string,
  limit: number,
): Promise<RecentExecution[]> {
  const { namespace, templateRef } = target.config;
  const selector = callerSelector(caller, templateRef.kind, templateRef.name);
  const workflows = await client.list(token, namespace, selector, PAGE);
  return workflows
    .map((w) => ({
      name: w.metadata.name,
      workflow: target.name,
      // Upper case, as the page shows Step Functions' statuses; no phase yet is PENDING.
      status: (w.status?.phase || 'Pending').toUpperCase(),
      startDate: new Date(w.status?.startedAt || w.metadata.creationTimestamp || 0),
      ...(w.status?.finishedAt ? { stopDate: new Date(w.status.finishedAt) } : {}),
      statusUrl: target.statusBase === undefined ? undefined : target.statusBase + w.metadata.name,
    }))
    .sort((a, b) => b.startDate.getTime() - a.startDate.getTime())
    .slice(0, limit);
}
