/**
 * One pass reports everything: when the schema refuses a config, the cross-checks (dangling
 * targets and issuers, policies that say nothing, …) still run, on a salvaged copy. Each refused
 * value is removed (so a default applies), and an entry of `routes`, `issuers` or `targets` that
 * still cannot be read is replaced by a stand-in under its own name, so that references to it do
 * not turn into "no such name" problems. The caller drops any cross-check problem at or under a
 * path that was removed or replaced: those are artifacts of the salvage, not of the config.
 */
import type { z } from 'zod';
import { formatKeyPath } from './key-path.ts';
import { type Config, configSchema } from './schema.ts';

type Issue = z.core.$ZodIssue;
type Path = readonly PropertyKey[];
type Node = Record<PropertyKey, unknown>;

/** Rounds of removal before giving up: each round resolves at least one level of nesting. */
const MAX_ROUNDS = 6;

export interface Salvaged {
  readonly config: Config;
  /** True when a problem at `path` concerns something the salvage removed or replaced. */
  covers(path: string): boolean;
}

const STAND_IN_TARGETS: Record<string, Node> = {
  http: { type: 'http', url: 'http://stepgate.invalid' },
  stepfunctions: {
    type: 'stepfunctions',
    stateMachineArn: 'arn:aws:states:us-east-1:000000000000:stateMachine:stand-in',
    region: 'us-east-1',
  },
  argo: {
    type: 'argo',
    server: 'https://stepgate.invalid',
    namespace: 'stand-in',
    templateRef: { kind: 'WorkflowTemplate', name: 'stand-in' },
    tokenFile: 'stand-in',
  },
};

function nameOf(node: unknown, fallback: string): string {
  const name = (node as Node | undefined)?.['name'];
  return typeof name === 'string' && /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/.test(name) ? name : fallback;
}

/** The entry `path` lies in, when a stand-in can replace it: `routes[i]`, `targets.x`, `sso` … */
function entryOf(path: Path): Path | undefined {
  const [section, key] = path;
  if (section === 'sso' || section === 'redis') return [section];
  if (section === 'routes' || section === 'issuers' || section === 'targets') {
    return key === undefined ? [section] : [section, key];
  }
  return undefined;
}

/** A valid value standing in for the unreadable entry at `entry`, under the same name. */
function standIn(document: Node, entry: Path): unknown {
  const [section, key] = entry;
  const original = get(document, entry) as Node | undefined;
  const name = nameOf(original, `stand-in-${String(key)}`);
  if (key === undefined) {
    if (section === 'sso') {
      return { issuer: nameOf({ name: original?.['issuer'] }, 'stand-in'), clientId: 'stand-in', cookieSecret: 's'.repeat(32) };
    }
    if (section === 'redis') return { url: 'redis://stepgate.invalid' };
    return section === 'routes' || section === 'issuers' ? [] : {};
  }
  switch (section) {
    case 'routes':
      return { name, path: '/', target: 'stand-in', public: true };
    case 'issuers':
      return { name, issuer: `https://stepgate.invalid/${String(key)}`, audiences: ['stand-in'] };
    default: {
      const type = String(original?.['type']);
      return STAND_IN_TARGETS[Object.hasOwn(STAND_IN_TARGETS, type) ? type : 'http'];
    }
  }
}

function get(root: unknown, path: Path): unknown {
  let node = root;
  for (const key of path) node = (node as Node | undefined)?.[key];
  return node;
}

function set(root: Node, path: Path, value: unknown): void {
  const parent = get(root, path.slice(0, -1)) as Node | undefined;
  if (parent && typeof parent === 'object') {
    if (value === undefined) delete parent[path.at(-1)!];
    else parent[path.at(-1)!] = value;
  }
}

/**
 * The first value to remove for `issue`: the unknown keys themselves, a whole list rather than
 * one element of it (indexes must not shift), otherwise the refused value.
 */
function removals(issue: Issue): Path[] {
  if (issue.code === 'unrecognized_keys') return issue.keys.map((key) => [...issue.path, key]);
  const path = [...issue.path];
  const index = path.findIndex((key, i) => typeof key === 'number' && i >= 2);
  return [index === -1 ? path : path.slice(0, index)];
}

/** A config the cross-checks can run on, or undefined when the document is beyond salvage. */
export function salvageConfig(document: unknown, issues: readonly Issue[]): Salvaged | undefined {
  if (document === null || typeof document !== 'object' || Array.isArray(document)) return undefined;
  const copy = structuredClone(document) as Node;
  const touched = new Set<string>();
  let pending = issues;
  for (let round = 0; round < MAX_ROUNDS; round++) {
    for (const issue of pending) {
      for (const path of removals(issue)) {
        const entry = entryOf(path);
        // A whole entry, or a value that is already gone (required, or removed last round):
        // the entry cannot be read, and a stand-in keeps its name for the references to it.
        if (get(copy, path) === undefined || (entry && entry.length === path.length)) {
          if (!entry) return undefined;
          set(copy, entry, standIn(copy, entry));
          touched.add(formatKeyPath(entry));
        } else {
          set(copy, path, undefined);
          touched.add(formatKeyPath(path));
        }
      }
    }
    const result = configSchema.safeParse(copy);
    if (result.success) {
      const prefixes = [...touched];
      return {
        config: result.data,
        covers: (path) => prefixes.some((p) => path === p || path.startsWith(`${p}.`) || path.startsWith(`${p}[`)),
      };
    }
    pending = result.error.issues;
  }
  return undefined;
}
