/**
 * `stepgate explain`: what the gateway would decide for one request, and why, without sending
 * anything. Exit 0 when the request would be allowed, 1 when denied.
 */
import { readFileSync } from 'node:fs';
import { decodeJwt, type JWTPayload } from 'jose';
import { loadConfigFile } from '../config/load.ts';
import { compileRouting } from '../policy/routing.ts';
import { decide } from './decide.ts';
import { InputError } from './input-error.ts';

export interface ExplainOptions {
  readonly configFile: string;
  readonly method: string;
  readonly path: string;
  /** A JSON file holding a token payload. */
  readonly claimsFile?: string;
  /** A JWT whose payload is decoded, not verified. */
  readonly token?: string;
  /** The issuer's config name, when `iss` does not pick it. */
  readonly issuer?: string;
}

function readClaims(options: ExplainOptions): JWTPayload | undefined {
  if (options.claimsFile !== undefined) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(readFileSync(options.claimsFile, 'utf8'));
    } catch (err) {
      throw new InputError(`cannot read the claims in ${options.claimsFile}: ${(err as Error).message}`, {
        cause: err,
      });
    }
    // `null` or `[]` must not quietly become an anonymous request or a caller without claims.
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
      throw new InputError(`the claims in ${options.claimsFile} must be a JSON object`);
    }
    return parsed as JWTPayload;
  }
  if (options.token !== undefined) {
    try {
      return decodeJwt(options.token);
    } catch (err) {
      throw new InputError(`cannot decode the token: ${(err as Error).message}`, { cause: err });
    }
  }
  return undefined;
}

/** Prints the explanation to `out`; returns the exit code. */
export function explain(options: ExplainOptions, out: NodeJS.WritableStream = process.stdout): number {
  const config = loadConfigFile(options.configFile);
  if (options.issuer !== undefined && !config.issuers.some((i) => i.name === options.issuer)) {
    const known = config.issuers.map((i) => i.name).join(', ') || '(none)';
    throw new InputError(`--issuer: no issuer named "${options.issuer}" (configured: ${known})`);
  }
  const claims = readClaims(options);
  const outcome = decide(config, compileRouting(config.routes, config.targets), {
    method: options.method,
    path: options.path,
    ...(claims ? { claims } : {}),
    ...(options.issuer !== undefined ? { issuer: options.issuer } : {}),
  });
  const route = outcome.route;
  const lines = [
    `request:  ${options.method.toUpperCase()} ${options.path}`,
    `path:     ${outcome.path ?? '(refused)'}`,
    `route:    ${route ? `${route.name} (routes[${route.index}], target ${route.target})` : '(none)'}`,
  ];
  if (outcome.identity) {
    const id = outcome.identity;
    lines.push(`caller:   ${id.issuer}/${id.sub}${id.clientId ? ` (client ${id.clientId})` : ''}`);
    lines.push(`scopes:   ${id.scopes.join(' ') || '-'}`);
    lines.push(`roles:    ${id.roles.join(' ') || '-'}`);
    lines.push(`groups:   ${id.groups.join(' ') || '-'}`);
  }
  lines.push(
    `decision: ${outcome.decision} (${outcome.reason})${outcome.failed ? ` — ${outcome.failed}` : ''}`,
  );
  if (options.token !== undefined) {
    lines.push('note:     the token was decoded, not verified (signature, exp, aud); explain sends nothing');
  }
  out.write(`${lines.join('\n')}\n`);
  return outcome.decision === 'allow' ? 0 : 1;
}
