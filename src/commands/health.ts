/**
 * `stepgate health`: asks a running gateway's admin `/readyz` and turns the answer into an exit
 * code, for a container HEALTHCHECK or an exec probe (no curl needed in the image).
 */
import { InputError } from './input-error.ts';

/** How long a probe waits: a gateway that cannot answer /readyz in this time is not ready. */
export const HEALTH_TIMEOUT_MS = 5000;

/** The /readyz URL of an admin listener; a wildcard address is asked on loopback. */
export function adminReadyUrl(admin: { readonly host: string; readonly port: number }): string {
  let host = admin.host;
  if (host === '0.0.0.0' || host === '') host = '127.0.0.1';
  else if (host === '::' || host === '[::]') host = '[::1]';
  else if (host.includes(':') && !host.startsWith('[')) host = `[${host}]`;
  return `http://${host}:${admin.port}/readyz`;
}

/** `--url`: a full URL is asked as it is; a bare origin gets `/readyz`. */
export function readyUrl(given: string): string {
  if (!URL.canParse(given) || !/^https?:$/.test(new URL(given).protocol)) {
    throw new InputError(`--url must be an http(s) URL, got ${JSON.stringify(given)}`);
  }
  const url = new URL(given);
  if (url.pathname === '/' && url.search === '') url.pathname = '/readyz';
  return url.href;
}

/** Exit 0 when `url` answers 200, else 1; one line on stdout (ready) or stderr (why not). */
export async function health(url: string, timeoutMs = HEALTH_TIMEOUT_MS): Promise<number> {
  let response: Response;
  try {
    response = await fetch(url, { redirect: 'manual', signal: AbortSignal.timeout(timeoutMs) });
  } catch (err) {
    const cause = (err as { cause?: { code?: string } }).cause?.code ?? (err as Error).name;
    process.stderr.write(`${url}: not reachable (${cause})\n`);
    return 1;
  }
  const text = await response.text().catch(() => '');
  if (response.status === 200) {
    process.stdout.write(`${url}: ready\n`);
    return 0;
  }
  process.stderr.write(`${url}: not ready (HTTP ${response.status}${failedChecks(text)})\n`);
  return 1;
}

/** `/readyz` names its checks: say which failed. */
function failedChecks(body: string): string {
  try {
    const { checks } = JSON.parse(body) as { checks?: Record<string, boolean> };
    const failed = Object.entries(checks ?? {}).filter(([, ok]) => !ok).map(([name]) => name);
    return failed.length > 0 ? `: ${failed.join(', ')}` : '';
  } catch {
    return '';
  }
}
