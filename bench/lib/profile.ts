/**
 * Reads a V8 `.cpuprofile` and says where each microsecond of a request went: the main thread's
 * CPU time during the profile (servers/profiling.ts measures it) divided by the requests served,
 * and split by the profile's samples — self time by group (stepgate's folders, each package, Node
 * internals, GC) and by function, and the inclusive time of the pipeline's stages.
 */
import { readFileSync } from 'node:fs';

interface ProfileNode {
  readonly id: number;
  readonly callFrame: {
    readonly functionName: string;
    readonly url: string;
    readonly lineNumber: number;
  };
  readonly children?: readonly number[];
}

interface CpuProfile {
  readonly nodes: readonly ProfileNode[];
  readonly samples: readonly number[];
}

export interface Share {
  readonly name: string;
  /** Percent of the busy (non-idle) samples. */
  readonly pct: number;
  /** Main-thread CPU µs per request. */
  readonly us: number;
}

export interface ProfileSummary {
  /** Main-thread CPU µs per request, all of it. */
  readonly totalUs: number;
  readonly groups: readonly Share[];
  readonly functions: readonly Share[];
  readonly stages: readonly Share[];
}

/** Pipeline stages: a function (by name, in a file; any name when `fn` is empty) whose inclusive time is the stage's. */
const STAGES: readonly { name: string; fn: string; file: string }[] = [
  { name: 'path normalization', fn: 'normalizeRequestTarget', file: 'normalize-path.ts' },
  { name: 'bearer verification (cache included)', fn: '', file: 'src/identity/verify-bearer.ts' },
  { name: '  of which the signature check', fn: '', file: 'src/identity/signature.ts' },
  { name: '  of which jose', fn: '', file: 'node_modules/jose/' },
  { name: 'policy decision', fn: '', file: 'src/policy/evaluate.ts' },
  { name: 'identity assertion (ES256 sign)', fn: '', file: 'src/targets/assertion.ts' },
  { name: 'header hygiene', fn: '', file: 'src/targets/headers.ts' },
  { name: 'audit record build', fn: 'buildAuditRecord', file: 'src/audit/record.ts' },
  { name: 'audit batch (chain, JSON line, write)', fn: '#commit', file: 'src/audit/audit-log.ts' },
  { name: 'metrics (prom-client)', fn: '', file: 'node_modules/prom-client/' },
  { name: 'HTTP target (undici call, relay)', fn: '', file: 'src/targets/http' },
];

/**
 * The group a sample's own frame belongs to: the rows of docs/performance.md's profile table.
 * Order matters: the first match wins.
 */
const GROUPS: readonly { name: string; match: (url: string, fn: string) => boolean }[] = [
  { name: 'GC', match: (_, fn) => fn === '(garbage collector)' },
  { name: 'socket and file writes (native)', match: (url, fn) => url === '' && /^write/.test(fn) },
  { name: 'V8 and native (program, builtins)', match: (url) => url === '' },
  { name: 'undici', match: (url) => url.includes('node_modules/undici/') },
  {
    name: 'Fastify (core, router, reply-from, http-proxy)',
    match: (url) => /node_modules\/(fastify|find-my-way|avvio|@fastify|light-my-request|fast-json-stringify|fast-querystring)/.test(url),
  },
  { name: 'Node HTTP, net, streams, events, timers', match: (url) => /^node:(?!internal\/crypto|crypto)/.test(url) },
  { name: 'signature checks and signing (node:crypto, jose)', match: (url) => /^node:(internal\/)?crypto|node_modules\/jose\//.test(url) },
  { name: 'prom-client', match: (url) => url.includes('node_modules/prom-client/') },
  { name: 'stepgate audit/', match: (url) => url.includes('/src/audit/') },
  { name: 'stepgate identity/', match: (url) => url.includes('/src/identity/') },
  { name: 'stepgate targets/', match: (url) => url.includes('/src/targets/') },
  { name: 'stepgate plugins/, routes/, runtime/', match: (url) => /\/src\/(plugins|routes|runtime)\//.test(url) },
  { name: 'stepgate policy/ and the rest of src/', match: (url) => url.includes('/src/') },
  { name: 'other packages', match: () => true },
];

function groupOf(frame: ProfileNode['callFrame']): string {
  return GROUPS.find((g) => g.match(frame.url, frame.functionName))!.name;
}

export function summarizeProfile(file: string, cpuUs: number, requests: number, top = 15): ProfileSummary {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  for (const id of profile.samples) self.set(id, (self.get(id) ?? 0) + 1);

  const groups = new Map<string, number>();
  const functions = new Map<string, number>();
  let busy = 0;
  for (const [id, hits] of self) {
    const frame = byId.get(id)!.callFrame;
    if (frame.functionName === '(idle)') continue;
    busy += hits;
    const group = groupOf(frame);
    groups.set(group, (groups.get(group) ?? 0) + hits);
    const where = frame.url ? `${frame.url.replace(/^.*\/(node_modules|src)\//, '$1/')}:${frame.lineNumber + 1}` : '';
    const key = `${frame.functionName || '(anonymous)'} ${where}`.trim();
    functions.set(key, (functions.get(key) ?? 0) + hits);
  }
  busy ||= 1;
  const totalUs = cpuUs / requests;

  // Inclusive time: a stage's samples are those with a stage frame on their stack (counted once).
  const parent = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
  const stageHits = STAGES.map(() => 0);
  for (const [id, hits] of self) {
    const matched = new Set<number>();
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const frame = byId.get(at)!.callFrame;
      STAGES.forEach((stage, i) => {
        if (frame.url.includes(stage.file) && (stage.fn === '' || frame.functionName === stage.fn)) matched.add(i);
      });
    }
    for (const i of matched) stageHits[i]! += hits;
  }

  const share = (name: string, hits: number): Share => ({
    name,
    pct: (hits / busy) * 100,
    us: (hits / busy) * totalUs,
  });
  const sorted = (entries: Iterable<[string, number]>) =>
    [...entries].sort((a, b) => b[1] - a[1]).map(([name, hits]) => share(name, hits));
  return {
    totalUs,
    groups: GROUPS.map((g) => share(g.name, groups.get(g.name) ?? 0)),
    functions: sorted(functions).slice(0, top),
    stages: STAGES.map((s, i) => share(s.name, stageHits[i]!)),
  };
}

export function formatProfile(title: string, summary: ProfileSummary): string {
  const line = (s: Share) => `    ${s.pct.toFixed(1).padStart(5)}% ${s.us.toFixed(1).padStart(6)} µs  ${s.name}`;
  return [
    `${title}: ${summary.totalUs.toFixed(1)} µs of main-thread CPU per request`,
    '  by group (self time):',
    ...summary.groups.filter((s) => s.pct > 0).map(line),
    '  pipeline stages (inclusive):',
    ...summary.stages.map(line),
    '  hottest functions (self time):',
    ...summary.functions.map(line),
  ].join('\n');
}

/** One Markdown table: a row per group and stage, a column per profile, µs per request. */
export function formatProfileTable(columns: readonly { title: string; summary: ProfileSummary }[]): string {
  const header = ['µs of main-thread CPU per request', ...columns.map((c) => c.title)];
  const row = (name: string, pick: (s: ProfileSummary) => number) => [
    name,
    ...columns.map((c) => pick(c.summary).toFixed(1)),
  ];
  const rows = [
    row('**total**', (s) => s.totalUs),
    ...GROUPS.map((g) => row(g.name, (s) => s.groups.find((x) => x.name === g.name)!.us)),
    ...STAGES.map((st) => row(`stage: ${st.name.trim()}`, (s) => s.stages.find((x) => x.name === st.name)!.us)),
  ];
  const render = (cells: readonly string[]) => `| ${cells.join(' | ')} |`;
  return [render(header), `|:--|${columns.map(() => '--:').join('|')}|`, ...rows.map(render)].join('\n');
}
