/**
 * What stepgate asks argo-server to run: the target's template in the target's namespace, named
 * for the caller and their `Idempotency-Key`, stamped with the caller's labels, with the envelope
 * in `stepgate-caller` and the body keys the target lists as parameters. Nothing the caller sends
 * can choose the template, namespace, service account, labels, annotations, priority or
 * entrypoint: they are not read from the request, and a body key that is not a listed parameter
 * is refused.
 */
import { ARGO_CALLER_PARAMETER, type ArgoTargetConfig } from '../../config/schema.ts';
import { GatewayError } from '../../errors.ts';
import type { Identity } from '../../identity/types.ts';
import { envelopeText, type RequestFacts } from '../execution/envelope.ts';
import { exactNumberText } from '../execution/exact-json.ts';
import { labelsOption, workflowLabels } from './labels.ts';
import type { SubmitRequest } from './types.ts';

/**
 * The most a submission may carry. Kubernetes keeps a workflow in one etcd object (about 1.5 MiB
 * with its status, which grows as it runs); the parameters get a quarter of that.
 */
export const MAX_SUBMIT_BYTES = 262_144;

function badParameter(detail: string): GatewayError {
  return new GatewayError('SG_ERR_BAD_PARAMETER', detail);
}

/**
 * The body's members as `[name, value]` parameters. The body (`parseJsonBody`'s value) must be a
 * JSON object (or absent) whose every key is one of `allowed`; a string is passed as it is, a
 * number or boolean as it was written (`1.50` stays `1.50`); anything else is refused, as is a
 * string holding a lone surrogate (argo-server would turn it into U+FFFD: the workflow would see
 * another value).
 */
export function bodyParameters(allowed: readonly string[], body: unknown): [string, string][] {
  if (body === undefined) return [];
  if (body === null || typeof body !== 'object' || Array.isArray(body) || JSON.isRawJSON(body)) {
    throw badParameter('the body must be a JSON object whose keys are this route’s parameters');
  }
  const out: [string, string][] = [];
  for (const [key, value] of Object.entries(body)) {
    if (!allowed.includes(key)) {
      throw badParameter(
        allowed.length === 0
          ? `this route takes no parameters, so the body may not set ${JSON.stringify(key.slice(0, 64))}`
          : `${JSON.stringify(key.slice(0, 64))} is not a parameter of this route (it takes ${allowed.join(', ')})`,
      );
    }
    const number = exactNumberText(value);
    if (typeof value === 'string') {
      if (!value.isWellFormed()) throw badParameter(`parameter "${key}" holds a lone surrogate`);
      out.push([key, value]);
    } else if (number !== undefined || typeof value === 'boolean') {
      out.push([key, number ?? String(value)]);
    } else {
      throw badParameter(`parameter "${key}" must be a string, a number or a boolean`);
    }
  }
  return out;
}

export interface SubmitInput {
  readonly name: string;
  readonly identity: Identity;
  readonly request: RequestFacts;
  /** `parseJsonBody`'s value; `undefined` when there is none. */
  readonly body: unknown;
}

/** `POST /api/v1/workflows/{namespace}/submit`'s body; a 400 or 413 before anything is sent. */
export function buildSubmitRequest(config: ArgoTargetConfig, input: SubmitInput): SubmitRequest {
  const parameters = bodyParameters(config.parameters, input.body);
  const envelope = envelopeText(input.body, input.identity, input.request);
  const request: SubmitRequest = {
    namespace: config.namespace,
    resourceKind: config.templateRef.kind,
    resourceName: config.templateRef.name,
    submitOptions: {
      name: input.name,
      ...(config.entrypoint ? { entryPoint: config.entrypoint } : {}),
      parameters: [`${ARGO_CALLER_PARAMETER}=${envelope}`, ...parameters.map(([k, v]) => `${k}=${v}`)],
      labels: labelsOption(workflowLabels(input.identity, input.request.id)),
    },
  };
  const size = Buffer.byteLength(JSON.stringify(request));
  if (size > MAX_SUBMIT_BYTES) {
    throw new GatewayError(
      'SG_ERR_INPUT_TOO_LARGE',
      `the workflow's parameters would be ${size} bytes; this gateway sends at most ${MAX_SUBMIT_BYTES}`,
    );
  }
  return request;
}

/** A parameter of a workflow as argo-server stored it. */
export function workflowParameter(
  parameters: readonly { name: string; value?: string }[] | undefined,
  name: string,
): string | undefined {
  return parameters?.find((p) => p.name === name)?.value;
}
