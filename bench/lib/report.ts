/** Aggregation across rounds, the results table, and the issue's targets checked against it. */

export type TargetName = 'direct' | 'bare' | 'stepgate';

export interface Measurement {
  readonly rps: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly rssMb: number;
  /** Responses with another status than expected, plus socket errors and time-outs. */
  readonly unexpected: number;
}

export interface Row extends Measurement {
  readonly workload: string;
  readonly target: TargetName;
  readonly rounds: number;
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2
    ? sorted[mid]!
    : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** Medians of rps and latency across rounds; the largest RSS; every error counted. */
export function aggregate(
  workload: string,
  target: TargetName,
  runs: readonly Measurement[],
): Row {
  return {
    workload,
    target,
    rounds: runs.length,
    rps: median(runs.map((r) => r.rps)),
    p50Ms: median(runs.map((r) => r.p50Ms)),
    p99Ms: median(runs.map((r) => r.p99Ms)),
    rssMb: Math.max(...runs.map((r) => r.rssMb)),
    unexpected: runs.reduce((n, r) => n + r.unexpected, 0),
  };
}

const fmt = (value: number, digits: number): string => value.toFixed(digits);

/** A Markdown table: it prints readably in a terminal and pastes into docs/performance.md. */
export function formatTable(rows: readonly Row[]): string {
  const header = [
    'workload',
    'server',
    'req/s',
    'p50 ms',
    'p99 ms',
    'RSS MB',
    'unexpected',
    '÷ bare',
    '÷ direct',
  ];
  const lines = [header];
  for (const row of rows) {
    const peers = rows.filter((r) => r.workload === row.workload);
    const bare = peers.find((r) => r.target === 'bare');
    const direct = peers.find((r) => r.target === 'direct');
    const ratio = (base: Row | undefined) =>
      row.target === 'stepgate' && base ? `${fmt(row.rps / base.rps, 2)}×` : '';
    lines.push([
      row.workload,
      row.target,
      fmt(row.rps, 0),
      fmt(row.p50Ms, 2),
      fmt(row.p99Ms, 2),
      fmt(row.rssMb, 0),
      String(row.unexpected),
      ratio(bare),
      ratio(direct),
    ]);
  }
  const widths = header.map((_, i) =>
    Math.max(...lines.map((l) => l[i]!.length)),
  );
  const render = (cells: string[]) =>
    `| ${cells.map((c, i) => (i < 2 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(' | ')} |`;
  const rule = `|${widths.map((w, i) => (i < 2 ? `:${'-'.repeat(w + 1)}` : `${'-'.repeat(w + 1)}:`)).join('|')}|`;
  return [render(lines[0]!), rule, ...lines.slice(1).map(render)].join('\n');
}

export interface Check {
  readonly target: string;
  readonly measured: string;
  /** `undefined`: not measured in this mode. */
  readonly met: boolean | undefined;
}

export function formatChecks(checks: readonly Check[]): string {
  return checks
    .map(
      (c) =>
        `${c.met === undefined ? '·' : c.met ? '✔' : '✖'} ${c.target}: ${c.measured}`,
    )
    .join('\n');
}
