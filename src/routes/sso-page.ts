/**
 * The pages under `/.stepgate/`: server-rendered HTML, no script, every value escaped, no token
 * anywhere in them. A strict Content-Security-Policy allows only the one inline stylesheet (by
 * hash) and forms that post back here (and, for the logout redirect, to the IdP).
 */
import { createHash } from 'node:crypto';
import type { SessionRecord } from '../identity/sessions/types.ts';
import { callerKey, type Identity } from '../identity/types.ts';
import { PATHS } from './sso-paths.ts';

/** One execution a caller started, with its current status. */
export interface ExecutionSummary {
  /** Step Functions executions only (an Argo workflow is named by `name`). */
  readonly executionArn?: string | undefined;
  readonly name: string;
  /** The route (or state machine) it belongs to, as the caller knows it. */
  readonly workflow: string;
  /**
   * Step Functions' status (RUNNING, SUCCEEDED, FAILED, TIMED_OUT, ABORTED, PENDING_REDRIVE) or an
   * Argo workflow's phase in upper case (PENDING, RUNNING, SUCCEEDED, FAILED, ERROR).
   */
  readonly status: string;
  readonly startDate: Date | string;
  readonly stopDate?: Date | string | undefined;
  /** A path on this gateway that describes it (`/executions/…`). */
  readonly statusUrl?: string | undefined;
}

/**
 * Where the page finds a caller's recent executions (Step Functions and Argo targets provide them).
 * `caller` is `callerKey(identity)`: `<issuer name>/<sub>`.
 */
export interface ExecutionsSource {
  /** Newest first, at most `limit`, each with its status as of now. */
  recentExecutions(caller: string, limit: number): Promise<readonly ExecutionSummary[]>;
}

const STYLE = `
:root{color-scheme:light dark;--fg:#1b1f24;--muted:#57606a;--line:#d0d7de;--bg:#fff;--tag:#eef2f6;--accent:#0a58ca}
@media (prefers-color-scheme:dark){:root{--fg:#e6edf3;--muted:#9aa5b1;--line:#30363d;--bg:#0d1117;--tag:#1f2630;--accent:#6ea8fe}}
*{box-sizing:border-box}
body{margin:0;font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);background:var(--bg)}
header{display:flex;justify-content:space-between;align-items:center;gap:1rem;padding:.75rem 1.5rem;border-bottom:1px solid var(--line)}
.brand{font-weight:700;margin:0}
main{max-width:52rem;margin:0 auto;padding:1.5rem}
h1{font-size:1.6rem;margin:0 0 1.5rem}
h2{font-size:1.1rem;margin:2rem 0 .5rem}
dl{display:grid;grid-template-columns:max-content 1fr;gap:.35rem 1.25rem;margin:0}
dt{color:var(--muted)}
dd{margin:0;overflow-wrap:anywhere}
.tags{list-style:none;display:flex;flex-wrap:wrap;gap:.4rem;padding:0;margin:0}
.tags li{background:var(--tag);border:1px solid var(--line);border-radius:1rem;padding:.05rem .65rem;font-size:.9rem}
.none{color:var(--muted);margin:0}
table{width:100%;border-collapse:collapse;font-size:.95rem}
th,td{text-align:left;padding:.45rem .5rem;border-bottom:1px solid var(--line);vertical-align:top}
th{color:var(--muted);font-weight:600}
caption{caption-side:bottom;text-align:left;padding-top:.5rem;font-size:.9rem}
.status{font-weight:600}
.status-SUCCEEDED{color:#1a7f37}.status-FAILED,.status-TIMED_OUT,.status-ABORTED,.status-ERROR{color:#cf222e}.status-RUNNING{color:var(--accent)}
button{font:inherit;padding:.35rem .9rem;border:1px solid var(--line);border-radius:.4rem;background:var(--tag);color:var(--fg);cursor:pointer}
button:focus-visible,a:focus-visible{outline:3px solid var(--accent);outline-offset:2px}
a{color:var(--accent)}
code{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:.9em}
`;

const STYLE_HASH = createHash('sha256').update(STYLE).digest('base64');

/** The Content-Security-Policy of every page; `idpOrigin` may receive the logout redirect. */
export function pagePolicy(idpOrigin: string): string {
  return [
    "default-src 'none'",
    `style-src 'sha256-${STYLE_HASH}'`,
    `form-action 'self' ${idpOrigin}`,
    "frame-ancestors 'none'",
    "base-uri 'none'",
  ].join('; ');
}

const ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

/** Text and attribute values, escaped for HTML. */
export function escapeHtml(value: unknown): string {
  return String(value).replace(/[&<>"']/g, (c) => ESCAPES[c]!);
}

function layout(title: string, body: string, signedIn: boolean): string {
  const logout = signedIn
    ? `<form method="post" action="${PATHS.logout}"><button type="submit">Sign out</button></form>`
    : '';
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="same-origin">
<title>${escapeHtml(title)} · stepgate</title>
<style>${STYLE}</style>
</head>
<body>
<header><p class="brand">stepgate</p>${logout}</header>
<main>
${body}
</main>
</body>
</html>
`;
}

function tags(id: string, heading: string, items: readonly string[]): string {
  const list =
    items.length === 0
      ? '<p class="none">None.</p>'
      : `<ul class="tags" aria-labelledby="${id}">${items.map((i) => `<li>${escapeHtml(i)}</li>`).join('')}</ul>`;
  return `<section aria-labelledby="${id}">\n<h2 id="${id}">${escapeHtml(heading)}</h2>\n${list}\n</section>`;
}

function time(value: Date | string | number): string {
  const date = new Date(value);
  if (Number.isNaN(date.getTime())) return '';
  const iso = date.toISOString();
  return `<time datetime="${iso}">${iso.slice(0, 16).replace('T', ' ')} UTC</time>`;
}

function claimText(identity: Identity, name: string): string | undefined {
  const value = identity.claims[name];
  return typeof value === 'string' && value !== '' ? value : undefined;
}

export type ExecutionsView =
  | { readonly kind: 'error' }
  | { readonly kind: 'list'; readonly items: readonly ExecutionSummary[] };

function executionsSection(view: ExecutionsView): string {
  let content: string;
  if (view.kind === 'list' && view.items.length === 0) {
    content = '<p class="none">None yet.</p>';
  } else if (view.kind === 'error') {
    content = '<p class="none" role="status">Your executions cannot be listed right now.</p>';
  } else {
    const rows = view.items
      .map((e) => {
        const name =
          e.statusUrl?.startsWith('/') && !e.statusUrl.startsWith('//')
            ? `<a href="${escapeHtml(e.statusUrl)}">${escapeHtml(e.name)}</a>`
            : escapeHtml(e.name);
        return `<tr><td>${name}</td><td>${escapeHtml(e.workflow)}</td><td><span class="status status-${escapeHtml(
          e.status.replace(/[^A-Z_]/g, ''),
        )}">${escapeHtml(e.status)}</span></td><td>${time(e.startDate)}</td><td>${e.stopDate ? time(e.stopDate) : '—'}</td></tr>`;
      })
      .join('\n');
    content = `<table>
<caption class="none">Status as of this page load; reload to update.</caption>
<thead><tr><th scope="col">Execution</th><th scope="col">Workflow</th><th scope="col">Status</th><th scope="col">Started</th><th scope="col">Stopped</th></tr></thead>
<tbody>
${rows}
</tbody>
</table>`;
  }
  return `<section aria-labelledby="executions">\n<h2 id="executions">Your recent executions</h2>\n${content}\n</section>`;
}

/** `/.stepgate/`: who you are, as the policy sees you, and what you started. */
export function renderHomePage(
  identity: Identity,
  record: SessionRecord,
  ttlSeconds: number,
  executions: ExecutionsView,
): string {
  const display = claimText(identity, 'preferred_username') ?? claimText(identity, 'email') ?? identity.sub;
  const email = claimText(identity, 'email');
  const name = claimText(identity, 'name');
  const rows: [string, string][] = [
    ['Caller', `<code>${escapeHtml(callerKey(identity))}</code>`],
    ...(name ? ([['Name', escapeHtml(name)]] as [string, string][]) : []),
    ...(email ? ([['Email', escapeHtml(email)]] as [string, string][]) : []),
    ['Issuer', `${escapeHtml(identity.issuer)} (<code>${escapeHtml(identity.iss)}</code>)`],
    ['Client', identity.clientId ? escapeHtml(identity.clientId) : '—'],
    ['Signed in', time(record.createdAt)],
    ['Session ends', `${time(record.createdAt + ttlSeconds * 1000)} at the latest`],
  ];
  const body = `<h1>Signed in as ${escapeHtml(display)}</h1>
<section aria-labelledby="who">
<h2 id="who">Who the gateway thinks you are</h2>
<dl>
${rows.map(([k, v]) => `<dt>${k}</dt><dd>${v}</dd>`).join('\n')}
</dl>
</section>
${tags('groups', 'Groups', identity.groups)}
${tags('roles', 'Roles', identity.roles)}
${tags('scopes', 'Scopes', identity.scopes)}
${executionsSection(executions)}`;
  return layout(`Signed in as ${display}`, body, true);
}

/** `GET /.stepgate/logout`: a button, because logging out takes a POST (CSRF). */
export function renderLogoutPage(rd: string): string {
  const action = `${PATHS.logout}?rd=${encodeURIComponent(rd)}`;
  const body = `<h1>Sign out</h1>
<p>Signing out ends your session here and at your identity provider.</p>
<form method="post" action="${escapeHtml(action)}"><button type="submit">Sign out</button></form>`;
  return layout('Sign out', body, false);
}

/** Where the IdP sends the browser after logging out. */
export function renderLoggedOutPage(rd: string): string {
  const login = `${PATHS.login}?rd=${encodeURIComponent(rd)}`;
  const body = `<h1>You are signed out</h1>
<p><a href="${escapeHtml(login)}">Sign in again</a></p>`;
  return layout('Signed out', body, false);
}

/**
 * A browser login that failed (`/.stepgate/login` or `/.stepgate/callback`): what went wrong in
 * words, the stable code and the request id to quote to an operator, and a way to try again.
 * The same problem a non-browser client gets as JSON.
 */
export function renderLoginFailedPage(problem: {
  status: number;
  title: string;
  detail: string;
  code: string;
  requestId: string;
}): string {
  const unavailable = problem.status >= 500;
  const heading = unavailable ? 'Sign-in is unavailable' : 'Sign-in failed';
  const advice = unavailable
    ? 'The identity provider cannot be used right now. Try again in a minute; if it persists, ' +
      'tell the operators the request id below.'
    : 'Start again from the page you wanted. If it happens again, tell the operators the request id below.';
  const body = `<h1>${heading}</h1>
<p>${escapeHtml(problem.detail)}</p>
<p>${escapeHtml(advice)}</p>
<dl>
<dt>Error</dt><dd><code>${escapeHtml(problem.code)}</code> (${escapeHtml(problem.title)})</dd>
<dt>Request id</dt><dd><code>${escapeHtml(problem.requestId)}</code></dd>
</dl>
<p><a href="${escapeHtml(PATHS.login)}">Sign in again</a></p>`;
  return layout(heading, body, false);
}
