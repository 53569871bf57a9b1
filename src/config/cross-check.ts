/**
 * Checks that span keys: names that must exist, policies that must say something, URLs that must
 * be https. Returns every problem; never throws.
 */
import { isIP } from 'node:net';
import type { ConfigProblem } from '../errors.ts';
import { loadCheckpointKey } from './checkpoint-key.ts';
import { decisionProblems } from './decision-check.ts';
import { tlsFileProblems } from './tls-files.ts';
import {
  ARGO_CALLER_PARAMETER,
  type ArgoTargetConfig,
  type AuditConfig,
  type Config,
  type ConditionSetConfig,
  type RouteConfig,
  type StepFunctionsTargetConfig,
} from './schema.ts';

const SEGMENT = /^(?:[A-Za-z0-9._~!$&'()+,=@-]+|:[A-Za-z_][A-Za-z0-9_]*)$/;

/** A route path: `/exact`, `/prefix/*`, or `:param` segments; nothing the normalizer would rewrite. */
export function routePathProblem(path: string): string | undefined {
  if (path === '/' || path === '/*') return undefined;
  const body = path.endsWith('/*') ? path.slice(1, -2) : path.slice(1);
  const segments = body.split('/');
  for (const segment of segments) {
    if (segment === '' || segment === '.' || segment === '..') return 'must not hold empty or dot segments';
    if (!SEGMENT.test(segment)) {
      return segment.includes('*')
        ? '"*" is allowed only as a trailing "/*"'
        : `segment "${segment}" has characters a canonical path cannot hold`;
    }
  }
  return undefined;
}

export function isCidr(value: string): boolean {
  const [address, bits, extra] = value.split('/');
  if (extra !== undefined || !address) return false;
  const family = isIP(address);
  if (family === 0) return false;
  if (bits === undefined) return true;
  const n = Number(bits);
  return /^\d+$/.test(bits) && n <= (family === 4 ? 32 : 128);
}

function isEmptyConditionSet(set: ConditionSetConfig): boolean {
  return (
    !set.scopes &&
    !set.anyScopes &&
    !set.roles &&
    !set.groups &&
    !(set.claims && Object.keys(set.claims).length)
  );
}

function uniqueNames(items: readonly { name: string }[], key: string, problems: ConfigProblem[]): void {
  const seen = new Set<string>();
  items.forEach((item, i) => {
    if (seen.has(item.name))
      problems.push({ path: `${key}[${i}].name`, message: `duplicate name "${item.name}"` });
    seen.add(item.name);
  });
}

export function crossCheck(config: Config): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const issuerNames = new Set(config.issuers.map((i) => i.name));
  uniqueNames(config.issuers, 'issuers', problems);
  uniqueNames(config.routes, 'routes', problems);

  const seenIss = new Map<string, number>();
  config.issuers.forEach((issuer, i) => {
    const first = seenIss.get(issuer.issuer);
    if (first !== undefined) {
      problems.push({
        path: `issuers[${i}].issuer`,
        message: `same issuer URL as issuers[${first}]: tokens could not be told apart`,
      });
    }
    seenIss.set(issuer.issuer, i);
  });
  // An opaque token names no issuer: it may be sent to one introspection endpoint only, never
  // handed to a second provider to see whether it knows it.
  const introspecting = config.issuers.flatMap((issuer, i) => (issuer.introspection ? [i] : []));
  if (introspecting.length > 1) {
    problems.push({
      path: `issuers[${introspecting[1]}].introspection`,
      message: `only one issuer may introspect opaque tokens (issuers[${introspecting[0]}] does already)`,
    });
  }

  if (config.server.trustProxy) {
    config.server.trustProxy.forEach((cidr, i) => {
      if (!isCidr(cidr))
        problems.push({ path: `server.trustProxy[${i}]`, message: 'must be an IP address or CIDR' });
    });
  }

  if (config.decision) problems.push(...decisionProblems(config.decision));
  problems.push(...tlsFileProblems(config));

  for (const [name, target] of Object.entries(config.targets)) {
    if (target.type === 'stepfunctions') problems.push(...stepFunctionsTargetProblems(name, target));
    if (target.type === 'argo') problems.push(...argoTargetProblems(name, target));
  }

  if (config.sso) {
    if (!issuerNames.has(config.sso.issuer)) {
      problems.push({ path: 'sso.issuer', message: `no issuer named "${config.sso.issuer}"` });
    }
    if (!config.server.publicUrl) {
      problems.push({ path: 'server.publicUrl', message: 'is required when sso is set' });
    } else if (new URL(config.server.publicUrl).pathname !== '/') {
      // The callback and the cookies (`__Host-`: Path=/) live at the origin's root.
      problems.push({ path: 'server.publicUrl', message: 'must be an origin (no path) when sso is set' });
    }
    if (!config.sso.scopes.includes('openid')) {
      problems.push({ path: 'sso.scopes', message: 'must include "openid" (the login needs an ID token)' });
    }
    if (config.sso.sessionIdleSeconds > config.sso.sessionTtlSeconds) {
      problems.push({ path: 'sso.sessionIdleSeconds', message: 'must not exceed sso.sessionTtlSeconds' });
    }
  }

  config.routes.forEach((route, i) => {
    const at = `routes[${i}]`;
    const pathProblem = routePathProblem(route.path);
    if (pathProblem) problems.push({ path: `${at}.path`, message: pathProblem });
    if (!(route.target in config.targets)) {
      problems.push({ path: `${at}.target`, message: `no target named "${route.target}"` });
    }
    route.issuers?.forEach((name, j) => {
      if (!issuerNames.has(name))
        problems.push({ path: `${at}.issuers[${j}]`, message: `no issuer named "${name}"` });
    });
    if (route.auth.includes('session') && !config.sso) {
      problems.push({ path: `${at}.auth`, message: '"session" needs the sso section' });
    }
    if (route.public) {
      if (route.allow)
        problems.push({ path: `${at}.allow`, message: 'a public route takes no allow conditions' });
    } else if (!route.allow) {
      problems.push({
        path: `${at}.allow`,
        message: 'is required unless the route is public: nothing is allowed by accident',
      });
    } else {
      const { anyOf, ...direct } = route.allow;
      if (isEmptyConditionSet(direct) && !anyOf) {
        problems.push({ path: `${at}.allow`, message: 'must hold at least one condition' });
      }
      anyOf?.forEach((set, j) => {
        if (isEmptyConditionSet(set)) {
          problems.push({ path: `${at}.allow.anyOf[${j}]`, message: 'must hold at least one condition' });
        }
      });
    }
    const target = config.targets[route.target];
    if (target?.type === 'stepfunctions' || target?.type === 'argo') {
      problems.push(...executionRouteProblems(route, at, target.type));
    } else if (route.readAnyExecution) {
      problems.push({
        path: `${at}.readAnyExecution`,
        message: 'only for routes to a stepfunctions or argo target',
      });
    }
    if (route.websocket && target && target.type !== 'http') {
      problems.push({ path: `${at}.websocket`, message: 'only for routes to an http target' });
    } else if (route.websocket && !route.methods.includes('GET')) {
      problems.push({ path: `${at}.websocket`, message: 'needs GET among the methods (RFC 6455 §4.1)' });
    }
    if (route.public && route.issuers) {
      problems.push({ path: `${at}.issuers`, message: 'a public route takes no issuer restriction' });
    }
    if (!route.public && config.issuers.length === 0 && !config.sso) {
      problems.push({ path: `${at}`, message: 'needs an identity but no issuers are configured' });
    }
  });

  problems.push(...checkpointProblems(config.audit));

  if (config.sso?.store === 'redis' && !config.redis) {
    problems.push({ path: 'sso.store', message: '"redis" needs the redis section' });
  }
  // A log shipper reading one stream could not tell log lines from audit records.
  if (config.logging.destination === 'stdout' && config.audit.sinks.some((sink) => sink.type === 'stdout')) {
    problems.push({
      path: 'logging.destination',
      message: 'stdout is also an audit sink: logs and audit records would share one stream; log to stderr',
    });
  }
  return problems;
}

/** Methods an execution route takes: POST starts an execution (a workflow), GET/HEAD read one. */
const EXECUTION_METHODS = new Set(['POST', 'GET', 'HEAD']);

function executionRouteProblems(route: RouteConfig, at: string, type: 'stepfunctions' | 'argo'): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const what = type === 'argo' ? 'an argo target' : 'a stepfunctions target';
  if (route.public) {
    problems.push({ path: `${at}.public`, message: `${what} needs a verified caller` });
  }
  route.methods.forEach((method, j) => {
    if (!EXECUTION_METHODS.has(method)) {
      problems.push({
        path: `${at}.methods[${j}]`,
        message: `${what} takes POST (start) and GET/HEAD (read), not ${method}`,
      });
    }
  });
  if (route.readAnyExecution) {
    const { anyOf, ...direct } = route.readAnyExecution;
    if (!route.methods.includes('GET') && !route.methods.includes('HEAD')) {
      problems.push({
        path: `${at}.readAnyExecution`,
        message: 'needs a route with GET: it is about reading',
      });
    }
    if (isEmptyConditionSet(direct) && !anyOf) {
      problems.push({ path: `${at}.readAnyExecution`, message: 'must hold at least one condition' });
    }
    anyOf?.forEach((set, j) => {
      if (isEmptyConditionSet(set)) {
        problems.push({
          path: `${at}.readAnyExecution.anyOf[${j}]`,
          message: 'must hold at least one condition',
        });
      }
    });
  }
  return problems;
}

function stepFunctionsTargetProblems(name: string, target: StepFunctionsTargetConfig): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const region = /^arn:[^:]+:states:([^:]+):/.exec(target.stateMachineArn)?.[1];
  if (region !== undefined && region !== target.region) {
    problems.push({
      path: `targets.${name}.region`,
      message: `is ${target.region}, but the state machine is in ${region}`,
    });
  }
  const seen = new Set<string>();
  target.credentials?.sessionTags?.forEach((tag, i) => {
    // IAM compares tag keys case-insensitively: two that differ only in case collide.
    if (seen.has(tag.toLowerCase())) {
      problems.push({
        path: `targets.${name}.credentials.sessionTags[${i}]`,
        message: `duplicate tag "${tag}"`,
      });
    }
    seen.add(tag.toLowerCase());
  });
  return problems;
}

/** `audit.checkpoints`: one key, readable and Ed25519, on a hash chain to sign. */
function checkpointProblems(audit: AuditConfig): ConfigProblem[] {
  const checkpoints = audit.checkpoints;
  if (!checkpoints) return [];
  const at = 'audit.checkpoints';
  if (!audit.hashChain) return [{ path: at, message: 'needs audit.hashChain: true (checkpoints sign the chain)' }];
  if ((checkpoints.keyFile === undefined) === (checkpoints.key === undefined)) {
    return [{ path: at, message: 'needs exactly one of keyFile and key' }];
  }
  try {
    loadCheckpointKey(checkpoints);
    return [];
  } catch (err) {
    return [{ path: `${at}.${checkpoints.keyFile === undefined ? 'key' : 'keyFile'}`, message: (err as Error).message }];
  }
}

function argoTargetProblems(name: string, target: ArgoTargetConfig): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const seen = new Set<string>();
  target.parameters.forEach((parameter, i) => {
    const at = `targets.${name}.parameters[${i}]`;
    if (parameter === ARGO_CALLER_PARAMETER) {
      problems.push({ path: at, message: `"${ARGO_CALLER_PARAMETER}" carries the caller; no body key may set it` });
    } else if (seen.has(parameter)) {
      problems.push({ path: at, message: `duplicate parameter "${parameter}"` });
    }
    seen.add(parameter);
  });
  if (target.caFile && new URL(target.server).protocol !== 'https:') {
    problems.push({ path: `targets.${name}.caFile`, message: 'is only for an https server' });
  }
  return problems;
}
