/**
 * Loading a config: file → YAML → `${VAR}` interpolation → schema → cross-checks → freeze.
 * Every problem is collected and reported in one pass, each with its key path.
 */
import { readFileSync } from 'node:fs';
import { parse as parseYaml, parseDocument } from 'yaml';
import type { z } from 'zod';
import { type ConfigProblem, ConfigError } from '../errors.ts';
import { readAssertionKeys } from './assertion-keys.ts';
import { crossCheck } from './cross-check.ts';
import { formatKeyPath } from './key-path.ts';
import { salvageConfig } from './salvage.ts';
import { type Config, configSchema } from './schema.ts';
import { allowedKeysAt, didYouMean } from './suggest.ts';
import { yamlProblems } from './yaml-problems.ts';

export { formatKeyPath } from './key-path.ts';

export type Env = Readonly<Record<string, string | undefined>>;

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

/** One schema issue as problems with key paths; typo'd keys and values get a "did you mean". */
function describeIssue(issue: z.core.$ZodIssue, document: unknown): ConfigProblem[] {
  if (issue.code === 'unrecognized_keys') {
    const allowed = allowedKeysAt(configSchema, issue.path, document);
    return issue.keys.map((key) => ({
      path: formatKeyPath([...issue.path, key]),
      message: `unknown key${didYouMean(key, allowed)}`,
    }));
  }
  if (issue.code === 'invalid_union' && 'errors' in issue && issue.errors.length > 0) {
    // A discriminated union reports the branch that matched; surface its problems directly.
    const nested = issue.errors.flat();
    if (nested.length > 0 && issue.errors.length === 1) {
      return nested.flatMap((inner) => describeIssue({ ...inner, path: [...issue.path, ...inner.path] }, document));
    }
  }
  const given = valueAt(document, issue.path);
  const choices = issue.code === 'invalid_value' ? issue.values : (issue as { options?: unknown[] }).options;
  const hint =
    typeof given === 'string' && Array.isArray(choices) ? didYouMean(given, choices.map(String)) : '';
  return [{ path: formatKeyPath(issue.path), message: issue.message + hint }];
}

function valueAt(document: unknown, path: readonly PropertyKey[]): unknown {
  let node = document;
  for (const key of path) node = (node as Record<PropertyKey, unknown> | null | undefined)?.[key];
  return node;
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const item of Object.values(value)) deepFreeze(item);
  }
  return value;
}

/** Cross-field problems, then the assertion keys' (their files are read here, so `check` sees them). */
function checkParsedConfig(config: Config): ConfigProblem[] {
  return [...crossCheck(config), ...readAssertionKeys(config.assertion).problems];
}

/**
 * Validates an already-parsed document. Throws `ConfigError` listing every problem: the schema's,
 * and the cross-checks' too, run on a salvaged copy when the schema refused something.
 */
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
      ...result.error.issues
        .flatMap((issue) => describeIssue(issue, interpolated))
        .filter((p) => !envPaths.has(p.path)),
    ];
    const salvaged = salvageConfig(interpolated, result.error.issues);
    if (salvaged) problems.push(...checkParsed(salvaged.config).filter((p) => !salvaged.covers(p.path)));
    throw new ConfigError(problems);
  }
  const problems = [...envProblems, ...checkParsed(result.data)];
  if (problems.length > 0) throw new ConfigError(problems);
  return deepFreeze(result.data);
}

/** Parses YAML text into a validated, frozen config. YAML errors are sentences with line and column. */
export function parseConfigText(text: string, env: Env = process.env): Config {
  const document = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (document.errors.length > 0) throw new ConfigError(yamlProblems(document.errors, text));
  return parseConfig(document.toJS() as unknown, env);
}

/** Reads and validates `file`; a `ConfigError` names the file. */
export function loadConfigFile(file: string, env: Env = process.env): Config {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError([{ path: '', message: `cannot read ${file}: ${(err as Error).message}` }], {
      cause: err,
    });
  }
  try {
    return parseConfigText(text, env);
  } catch (err) {
    if (err instanceof ConfigError) throw new ConfigError(err.problems, { cause: err.cause, file });
    throw err;
  }
}
