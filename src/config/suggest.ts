/**
 * "Did you mean": the nearest allowed name for a typo'd key or value, by edit distance (optimal
 * string alignment: insertions, deletions, substitutions and swaps of neighbours each cost 1), as
 * git and cargo suggest commands. Allowed keys are read from the schema at the key's path.
 */
import type { z } from 'zod';

/** Edit distance between `a` and `b`, where swapping two neighbouring characters costs 1. */
export function editDistance(a: string, b: string): number {
  const rows = a.length + 1;
  const cols = b.length + 1;
  const d: number[][] = Array.from({ length: rows }, (_, i) =>
    Array.from({ length: cols }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  );
  for (let i = 1; i < rows; i++) {
    for (let j = 1; j < cols; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      const swapped = i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1];
      if (swapped) best = Math.min(best, d[i - 2]![j - 2]! + 1);
      d[i]![j] = best;
    }
  }
  return d[a.length]![b.length]!;
}

/**
 * The candidate nearest to `word`, when it is near enough to be a typo: a different case, or at
 * most one edit per three characters (at least one).
 */
export function closest(word: string, candidates: readonly string[]): string | undefined {
  const lower = word.toLowerCase();
  let best: string | undefined;
  let bestDistance = Math.max(1, Math.floor(word.length / 3)) + 1;
  for (const candidate of candidates) {
    if (candidate === word) return undefined;
    const distance = candidate.toLowerCase() === lower ? 0 : editDistance(lower, candidate.toLowerCase());
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return best;
}

/** ` (did you mean "x"?)`, or `''` when nothing is near. */
export function didYouMean(word: string, candidates: readonly string[]): string {
  const found = closest(word, candidates);
  return found === undefined ? '' : ` (did you mean ${JSON.stringify(found)}?)`;
}

type Schema = z.core.$ZodType;

interface Def {
  readonly type: string;
  readonly shape?: Record<string, Schema>;
  readonly element?: Schema;
  readonly valueType?: Schema;
  readonly innerType?: Schema;
  readonly in?: Schema;
  readonly options?: readonly Schema[];
  readonly discriminator?: string;
}

const defOf = (schema: Schema): Def => schema._zod.def as unknown as Def;

/** The schema under wrappers (optional, default, prefault, nullable, pipe). */
function unwrap(schema: Schema): Schema {
  let current = schema;
  for (;;) {
    const def = defOf(current);
    const inner = def.innerType ?? (def.type === 'pipe' ? def.in : undefined);
    if (!inner) return current;
    current = inner;
  }
}

/** The option of a discriminated union that `value` selects (by its discriminator), if any. */
function pickOption(def: Def, value: unknown): Schema | undefined {
  if (!def.options || !def.discriminator) return undefined;
  const tag = (value as Record<string, unknown> | null | undefined)?.[def.discriminator];
  return def.options.find((option) => {
    const shape = defOf(unwrap(option)).shape;
    const literal = shape?.[def.discriminator!];
    const values = (literal?._zod.def as { values?: unknown[] } | undefined)?.values;
    return values?.includes(tag);
  });
}

/**
 * The keys an object at `path` of `document` may have under `schema`; `[]` when the path does
 * not lead to an object schema.
 */
export function allowedKeysAt(schema: Schema, path: readonly PropertyKey[], document: unknown): string[] {
  let current: Schema | undefined = unwrap(schema);
  let value: unknown = document;
  for (const key of path) {
    if (!current) return [];
    const def = defOf(current);
    if (def.type === 'object') current = def.shape?.[String(key)];
    else if (def.type === 'array') current = def.element;
    else if (def.type === 'record') current = def.valueType;
    else return [];
    value = (value as Record<PropertyKey, unknown> | undefined)?.[key];
    current = current && unwrap(current);
    if (current && defOf(current).type === 'union') current = pickOption(defOf(current), value);
  }
  const shape = current && defOf(current).shape;
  return shape ? Object.keys(shape) : [];
}
