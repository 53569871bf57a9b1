/**
 * The import graph of src/ and the one-way rule it must follow (STYLE.md: `cli → app →
 * plugins/routes → targets, audit, identity, policy → config, errors`), refined into ordered
 * layers: a module may import from its own layer or a lower one, never from a higher one.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

/** Lowest first. A top-level folder or file of src/ (without `.ts`) in exactly one layer. */
export const LAYERS: readonly (readonly string[])[] = [
  ['errors', 'canonical-json', 'config', 'logger', 'redis'],
  ['policy', 'identity', 'metrics', 'ratelimit'],
  ['audit'],
  ['targets', 'decision', 'export'],
  ['runtime'],
  ['plugins', 'routes'],
  ['app', 'http-app', 'decision-app'],
  ['commands', 'dev', 'cli'],
];

export interface Import {
  /** Paths relative to the repository root: `src/targets/http.ts`. */
  readonly from: string;
  readonly to: string;
}

/** `src/targets/http.ts` → `targets`; `src/app.ts` → `app`. */
export function moduleOf(path: string): string {
  const [, top = ''] = path.split('/');
  return top.replace(/\.ts$/, '');
}

/** The layer of a module (`moduleOf`); -1 for none. */
export const layerOf = (module: string): number => LAYERS.findIndex((layer) => layer.includes(module));

/** Every import that points up a layer, or names a module no layer holds. */
export function violations(imports: readonly Import[]): string[] {
  const found: string[] = [];
  for (const { from, to } of imports) {
    const [a, b] = [moduleOf(from), moduleOf(to)];
    const [la, lb] = [layerOf(a), layerOf(b)];
    if (la === -1 || lb === -1) found.push(`${la === -1 ? from : to}: src/${la === -1 ? a : b} is in no layer`);
    else if (lb > la) found.push(`${from} imports ${to}: ${a} (layer ${la}) may not depend on ${b} (layer ${lb})`);
  }
  return found;
}

/** Relative specifiers of `import … from`, `export … from`, `import '…'` and `import('…')`. */
const SPECIFIER = /(?:\bfrom\s*|\bimport\s*\(?\s*)['"](\.{1,2}\/[^'"]+)['"]/g;

/** The imports between files of src/ (type-only imports included: they are dependencies too). */
export function srcImports(root: string): Import[] {
  const files = (readdirSync(join(root, 'src'), { recursive: true }) as string[])
    .filter((f) => f.endsWith('.ts'))
    .map((f) => join(root, 'src', f));
  return files.flatMap((file) =>
    [...readFileSync(file, 'utf8').matchAll(SPECIFIER)].map((m) => ({
      from: relative(root, file),
      to: relative(root, resolve(dirname(file), m[1]!)),
    })),
  );
}

/** Files of src/ that import `pkg` (a package name, or its subpath). */
export function importersOf(root: string, pkg: RegExp): string[] {
  const files = (readdirSync(join(root, 'src'), { recursive: true }) as string[]).filter((f) => f.endsWith('.ts'));
  return files
    .filter((f) => [...readFileSync(join(root, 'src', f), 'utf8').matchAll(/\bfrom\s*['"]([^'".][^'"]*)['"]/g)].some((m) => pkg.test(m[1]!)))
    .map((f) => `src/${f}`);
}
