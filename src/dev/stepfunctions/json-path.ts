/**
 * The reference paths of the Amazon States Language: `$`, `$.a.b`, `$.a[0]`, `$['a b']`, and
 * `$$.…` into the context object. No filters or wildcards: the States Language allows those
 * only in a few places the local endpoint does not support.
 * https://states-language.net/spec.html#path
 */

export class PathError extends Error {
  override readonly name = 'States.Runtime';
}

type Step = string | number;

function parse(path: string): { context: boolean; steps: Step[] } {
  const context = path.startsWith('$$');
  let i = context ? 2 : 1;
  if (path[0] !== '$') throw new PathError(`invalid path ${JSON.stringify(path)}`);
  const steps: Step[] = [];
  while (i < path.length) {
    const c = path[i];
    if (c === '.') {
      const m = /^[^.[\]]+/.exec(path.slice(i + 1));
      if (!m) throw new PathError(`invalid path ${JSON.stringify(path)}`);
      steps.push(m[0]);
      i += 1 + m[0].length;
    } else if (c === '[') {
      const rest = path.slice(i);
      const index = /^\[(\d+)\]/.exec(rest);
      const quoted = /^\['((?:[^'\\]|\\.)*)'\]/.exec(rest);
      if (index) {
        steps.push(Number(index[1]));
        i += index[0].length;
      } else if (quoted) {
        steps.push(quoted[1]!.replace(/\\(.)/g, '$1'));
        i += quoted[0].length;
      } else {
        throw new PathError(`invalid path ${JSON.stringify(path)}`);
      }
    } else {
      throw new PathError(`invalid path ${JSON.stringify(path)}`);
    }
  }
  return { context, steps };
}

/** The value at `path`, or `undefined` when a step is missing. */
export function readPath(path: string, input: unknown, context: unknown): unknown {
  const { context: fromContext, steps } = parse(path);
  let node: unknown = fromContext ? context : input;
  for (const step of steps) {
    if (typeof step === 'number') {
      if (!Array.isArray(node) || step >= node.length) return undefined;
      node = node[step];
    } else {
      if (node === null || typeof node !== 'object' || Array.isArray(node) || !Object.hasOwn(node, step)) {
        return undefined;
      }
      node = (node as Record<string, unknown>)[step];
    }
  }
  return node;
}

/** Like `readPath`, but a missing value is the `States.Runtime` error AWS raises. */
export function requirePath(path: string, input: unknown, context: unknown): unknown {
  const value = readPath(path, input, context);
  if (value === undefined) throw new PathError(`path ${JSON.stringify(path)} matched nothing in the input`);
  return value;
}

/** `ResultPath`: `input` with `result` placed at `path` (objects on the way are created). */
export function writePath(path: string, input: unknown, result: unknown): unknown {
  const { context, steps } = parse(path);
  if (context) throw new PathError('ResultPath cannot point into the context object');
  if (steps.length === 0) return result;
  const root: unknown = structuredClone(input ?? {});
  if (root === null || typeof root !== 'object' || Array.isArray(root)) {
    throw new PathError('ResultPath needs an object input');
  }
  let node = root as Record<string, unknown>;
  steps.forEach((step, i) => {
    if (typeof step === 'number') throw new PathError('ResultPath cannot hold array indexes');
    if (i === steps.length - 1) {
      node[step] = result;
      return;
    }
    const next = node[step];
    if (next === null || typeof next !== 'object' || Array.isArray(next)) node[step] = {};
    node = node[step] as Record<string, unknown>;
  });
  return root;
}

/**
 * A payload template (`Parameters`, `ResultSelector`): keys ending in `.$` take the value at
 * their path; everything else is copied.
 */
export function applyTemplate(template: unknown, input: unknown, context: unknown): unknown {
  if (Array.isArray(template)) return template.map((t) => applyTemplate(t, input, context));
  if (template === null || typeof template !== 'object') return template;
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(template)) {
    if (key.endsWith('.$')) {
      if (typeof value !== 'string') throw new PathError(`${key} must be a path`);
      out[key.slice(0, -2)] = requirePath(value, input, context);
    } else {
      out[key] = applyTemplate(value, input, context);
    }
  }
  return out;
}
