/**
 * Loading a config: file → YAML → `${VAR}` interpolation → schema → cross-checks → freeze.
 * Every problem is collected and reported in one pass, each with its key path.
 */
import { readFileSync } from 'node:fs';
import { parse as parseYaml, YAMLParseError } from 'yaml';
import type { z } from 'zod';
import { type ConfigProblem, ConfigError } from '../errors.ts';
import { readAssertionKeys } from './assertion-keys.ts';
import { crossCheck } from './cross-check.ts';
import { type Config, configSchema } from './schema.ts';

export type Env = Readonly<Record<string, string | undefined>>;

/** `routes[2].allow.scopes` from `['routes', 2, 'allow', 'scopes']`. */
export function formatKeyPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const key of path) {
    if (typeof key === 'number') out += `[${key}]`;
    else if (typeof key === 'string' && /^[A-Za-z_$][\w$-]*$/.test(key)) out += out ? `.${key}` : key;
    else out += `[${JSON.stringify(String(key))}]`;
  }
  return out;
}

const VAR = /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;
const WHOLE_VAR = /^\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}$/;

/**
 * Replaces `${VAR}` and `${VAR:-default}` in string values (after parsing, so a variable's
 * value can never inject YAML structure). A value that is one whole variable is read as a YAML
 * scalar, so `port: ${PORT}` gives a number.
 */
export function interpolateEnv(
  value: unknown,
  env: Env,
  problems: ConfigProblem[],
  path: PropertyKey[] = [],
): unknown {
  if (typeof value === 'string') {
    const lookup = (name: string, fallback: string | undefined): string | undefined => {
      const found = env[name];
      if (found !== undefined && found !== '') return found;
      if (fallback !== undefined) return fallback;
      problems.push({ path: formatKeyPath(path), message: `environment variable ${name} is not set` });
      return undefined;
    };
    const whole = WHOLE_VAR.exec(value);
    if (whole) {
      const resolved = lookup(whole[1]!, whole[2]);
      if (resolved === undefined) return value;
      const asScalar = /^(?:-?\d+(?:\.\d+)?|true|false)$/.test(resolved) ? parseYaml(resolved) : resolved;
      return asScalar;
    }
    return value.replace(
      VAR,
      (match, name: string, fallback: string | undefined) => lookup(name, fallback) ?? match,
    );
  }
  if (Array.isArray(value)) return value.map((item, i) => interpolateEnv(item, env, problems, [...path, i]));
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [key, item] of Object.entries(value))
      out[key] = interpolateEnv(item, env, problems, [...path, key]);
    return out;
  }
  return value;
}

function describeIssue(issue: z.core.$ZodIssue): ConfigProblem[] {
  if (issue.code === 'unrecognized_keys') {
    return issue.keys.map((key) => ({
      path: formatKeyPath([...issue.path, key]),
      message: 'unknown key',
    }));
  }
  if (issue.code === 'invalid_union' && 'errors' in issue && issue.errors.length > 0) {
    // A discriminated union reports the branch that matched; surface its problems directly.
    const nested = issue.errors.flat();
    if (nested.length > 0 && issue.errors.length === 1) {
      return nested.flatMap((inner) => describeIssue({ ...inner, path: [...issue.path, ...inner.path] }));
    }
  }
  return [{ path: formatKeyPath(issue.path), message: issue.message }];
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const item of Object.values(value)) deepFreeze(item);
  }
  return value;
}

/** A copy of `document` without the keys at `paths` (each a list of keys from the root). */
function withoutKeys(document: unknown, paths: readonly (readonly PropertyKey[])[]): unknown {
  const copy = structuredClone(document) as Record<PropertyKey, unknown>;
  for (const path of paths) {
    let node: unknown = copy;
    for (const key of path.slice(0, -1)) node = (node as Record<PropertyKey, unknown> | undefined)?.[key];
    if (node && typeof node === 'object') delete (node as Record<PropertyKey, unknown>)[path.at(-1)!];
  }
  return copy;
}

/** Cross-field problems, then the assertion keys' (their files are read here, so `check` sees them). */
function checkParsedConfig(config: Config): ConfigProblem[] {
  return [...crossCheck(config), ...readAssertionKeys(config.assertion).problems];
}

/** Validates an already-parsed document. Throws `ConfigError` listing every problem. */
export function parseConfig(document: unknown, env: Env = process.env): Config {
  const envProblems: ConfigProblem[] = [];
  const interpolated = interpolateEnv(document ?? {}, env, envProblems);
  const result = configSchema.safeParse(interpolated);
  // A missing variable already names its key; a complaint about the `${VAR}` left there adds nothing.
  const envPaths = new Set(envProblems.map((p) => p.path));
  const checkParsed = (config: Config) => checkParsedConfig(config).filter((p) => !envPaths.has(p.path));
  if (!result.success) {
    const problems = [
      ...envProblems,
      ...result.error.issues.flatMap(describeIssue).filter((p) => !envPaths.has(p.path)),
    ];
    // Unknown keys alone still let the cross-checks run, so one pass reports everything.
    const issues = result.error.issues;
    if (issues.every((issue) => issue.code === 'unrecognized_keys')) {
      const stripped = configSchema.safeParse(
        withoutKeys(
          interpolated,
          issues.flatMap((issue) =>
            issue.code === 'unrecognized_keys' ? issue.keys.map((k) => [...issue.path, k]) : [],
          ),
        ),
      );
      if (stripped.success) problems.push(...checkParsed(stripped.data));
    }
    throw new ConfigError(problems);
  }
  const problems = [...envProblems, ...checkParsed(result.data)];
  if (problems.length > 0) throw new ConfigError(problems);
  return deepFreeze(result.data);
}

/** Parses YAML text into a validated, frozen config. */
export function parseConfigText(text: string, env: Env = process.env): Config {
  let document: unknown;
  try {
    document = parseYaml(text, { prettyErrors: true, uniqueKeys: true });
  } catch (err) {
    const message = err instanceof YAMLParseError ? err.message.split('\n')[0]! : String(err);
    throw new ConfigError([{ path: '', message: `not valid YAML: ${message}` }], { cause: err });
  }
  return parseConfig(document, env);
}

export function loadConfigFile(file: string, env: Env = process.env): Config {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError([{ path: '', message: `cannot read ${file}: ${(err as Error).message}` }], {
      cause: err,
    });
  }
  return parseConfigText(text, env);
}
