/**
 * A caller's recent executions of one async target, for the `/.stepgate/` page: ListExecutions
 * (newest first, with the gateway's own credentials) filtered by the caller tag every execution
 * name starts with. Only the newest few hundred executions are looked at: a page, not a search.
 */
import { ListExecutionsCommand, type SFNClient } from '@aws-sdk/client-sfn';
import type { RecentExecution } from '../execution/call.ts';
import { callerTagOf } from '../execution/naming.ts';

const PAGE = 100;
const MAX_PAGES = 3;

export async function listRecentExecutions(
  client: SFNClient,
  target: { readonly name: string; readonly stateMachineArn: string; readonly statusBase: string | undefined },
  caller: string,
  limit: number,
): Promise<RecentExecution[]> {
  const prefix = `${callerTagOf(caller)}-`;
  const found: RecentExecution[] = [];
  let nextToken: string | undefined;
  for (let page = 0; page < MAX_PAGES && found.length < limit; page++) {
    const out = await client.send(
      new ListExecutionsCommand({ stateMachineArn: target.stateMachineArn, maxResults: PAGE, nextToken }),
    );
    for (const e of out.executions ?? []) {
      if (!e.name?.startsWith(prefix) || !e.executionArn || !e.startDate) continue;
      found.push({
        executionArn: e.executionArn,
        name: e.name,
        workflow: target.name,
        status: e.status ?? 'UNKNOWN',
        startDate: e.startDate,
        stopDate: e.stopDate,
        statusUrl: target.statusBase === undefined ? undefined : target.statusBase + e.executionArn,
      });
    }
    nextToken = out.nextToken;
    if (!nextToken) break;
  }
  return found.slice(0, limit);
}
