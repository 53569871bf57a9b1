/**
 * Reads a V8 `.cpuprofile` (`node --cpu-prof`) and says where the time went: self time by
 * component (stepgate's files, each package, Node internals, GC, idle), the hottest functions,
 * and the inclusive time of the request pipeline's stages.
 */
import { readFileSync } from 'node:fs';

interface ProfileNode {
  readonly id: number;
  readonly callFrame: {
    readonly functionName: string;
    readonly url: string;
    readonly lineNumber: number;
  };
  readonly hitCount?: number;
  readonly children?: readonly number[];
}

interface CpuProfile {
  readonly nodes: readonly ProfileNode[];
  readonly startTime: number;
  readonly endTime: number;
  readonly samples: readonly number[];
}

export interface Share {
  readonly name: string;
  /** Percent of the busy (non-idle) time. */
  readonly pct: number;
  /** Busy milliseconds of the main thread. */
  readonly ms: number;
}

export interface ProfileSummary {
  readonly busyPct: number;
  /** Main-thread time spent not idle, in ms. */
  readonly busyMs: number;
  readonly components: readonly Share[];
  readonly functions: readonly Share[];
  readonly stages: readonly Share[];
}

/** Pipeline stages: a function (by name, in a file) whose inclusive time is the stage's. */
const STAGES: readonly { name: string; fn: string; file: string }[] = [
  {
    name: 'path normalization',
    fn: 'normalizeRequestTarget',
    file: 'normalize-path.ts',
  },
  { name: 'bearer verification', fn: 'verifyToken', file: 'verify-bearer.ts' },
  {
    name: '  of which the signature check (jose)',
    fn: 'verifySignature',
    file: 'jose/dist/webapi/lib/jws_verify',
  },
  { name: 'policy decision', fn: '', file: 'evaluate.ts' },
  { name: 'identity assertion (ES256 sign)', fn: 'sign', file: 'assertion.ts' },
  { name: 'header hygiene', fn: 'forwardedHeaders', file: 'headers.ts' },
  { name: 'audit record build', fn: 'buildAuditRecord', file: 'record.ts' },
  {
    name: 'audit batch (chain + JSON + write)',
    fn: '#commit',
    file: 'audit-log.ts',
  },
  { name: 'metrics (prom-client)', fn: '', file: 'node_modules/prom-client/' },
  {
    name: 'forwarding (HTTP target, reply-from, undici)',
    fn: 'handle',
    file: 'src/targets/http.ts',
  },
];

function componentOf(frame: ProfileNode['callFrame']): string {
  const { url, functionName } = frame;
  if (functionName === '(idle)') return '(idle)';
  if (functionName === '(garbage collector)') return 'GC';
  if (url === '' && /^write/.test(functionName))
    return 'socket and file writes (native)';
  if (functionName === '(program)' || url === '')
    return 'native / V8 (program)';
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url)?.[1];
  if (pkg) return pkg;
  const src = /\/(src|bench)\/(.+)$/.exec(url);
  if (src) return `stepgate ${src[1]}/${src[2]}`;
  if (url.startsWith('node:')) {
    const mod = url
      .slice(5)
      .replace(/^internal\//, '')
      .split('/')[0]!;
    return `node:${mod}`;
  }
  return url;
}

export function summarizeProfile(file: string, top = 15): ProfileSummary {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  for (const id of profile.samples) self.set(id, (self.get(id) ?? 0) + 1);
  const total = profile.samples.length || 1;
  const intervalMs = (profile.endTime - profile.startTime) / 1000 / total;

  const components = new Map<string, number>();
  const functions = new Map<string, number>();
  let idle = 0;
  for (const [id, hits] of self) {
    const frame = byId.get(id)!.callFrame;
    const component = componentOf(frame);
    if (component === '(idle)') {
      idle += hits;
      continue;
    }
    components.set(component, (components.get(component) ?? 0) + hits);
    const where = frame.url
      ? `${frame.url.replace(/^.*\/(node_modules|src)\//, '$1/')}:${frame.lineNumber + 1}`
      : '';
    const key = `${frame.functionName || '(anonymous)'} ${where}`.trim();
    functions.set(key, (functions.get(key) ?? 0) + hits);
  }
  const busy = total - idle || 1;

  // Inclusive time: a stage's samples are those with a stage frame on their stack (counted once).
  const parent = new Map<number, number>();
  for (const node of profile.nodes)
    for (const child of node.children ?? []) parent.set(child, node.id);
  const stageHits = STAGES.map(() => 0);
  for (const [id, hits] of self) {
    const matched = new Set<number>();
    for (
      let at: number | undefined = id;
      at !== undefined;
      at = parent.get(at)
    ) {
      const frame = byId.get(at)!.callFrame;
      STAGES.forEach((stage, i) => {
        if (
          frame.url.includes(stage.file) &&
          (stage.fn === '' || frame.functionName === stage.fn)
        )
          matched.add(i);
      });
    }
    for (const i of matched) stageHits[i]! += hits;
  }

  const shares = (entries: Iterable<[string, number]>): Share[] =>
    [...entries]
      .sort((a, b) => b[1] - a[1])
      .map(([name, hits]) => ({
        name,
        pct: (hits / busy) * 100,
        ms: hits * intervalMs,
      }));
  return {
    busyPct: (busy / total) * 100,
    busyMs: busy * intervalMs,
    components: shares(components).slice(0, top),
    functions: shares(functions).slice(0, top),
    stages: STAGES.map((s, i) => ({
      name: s.name,
      pct: (stageHits[i]! / busy) * 100,
      ms: stageHits[i]! * intervalMs,
    })),
  };
}

/**
 * `requests`: how many requests the profiled process served, to express time per request. The
 * profile covers start-up too (module loading shows as node:modules), a few percent at most.
 */
export function formatProfile(
  title: string,
  summary: ProfileSummary,
  requests: number,
): string {
  const perRequest = (ms: number) =>
    `${((ms * 1000) / requests).toFixed(1).padStart(5)} µs`;
  const pct = (s: Share) =>
    `${s.pct.toFixed(1).padStart(5)}% ${perRequest(s.ms)}  ${s.name}`;
  return [
    `${title}: main thread busy ${summary.busyPct.toFixed(0)}% of the time, ${perRequest(summary.busyMs).trim()} per request;`,
    '  shares of busy time, and µs per request:',
    '  by component (self time):',
    ...summary.components.map((s) => `    ${pct(s)}`),
    '  pipeline stages (inclusive):',
    ...summary.stages.map((s) => `    ${pct(s)}`),
    '  hottest functions (self time):',
    ...summary.functions.map((s) => `    ${pct(s)}`),
  ].join('\n');
}
