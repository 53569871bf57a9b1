/**
 * AWS Signature Version 4 verification for the local endpoints: the signature is recomputed with
 * @smithy/signature-v4 (the signer the SDK itself uses) over exactly the headers the client says
 * it signed, and compared in constant time. A request with an unknown key, a stale date, the wrong
 * scope or one changed byte is refused, as AWS refuses it.
 * https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv-create-signed-request.html
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { HttpRequest } from '@smithy/protocol-http';
import { SignatureV4 } from '@smithy/signature-v4';

/** A Checksum for the signer, on node:crypto (what @smithy/hash-node does). */
type SourceData = string | ArrayBuffer | ArrayBufferView;

function bytes(data: SourceData): string | Uint8Array {
  if (typeof data === 'string') return data;
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

class Sha256 {
  readonly #hash;
  constructor(secret?: SourceData) {
    this.#hash = secret === undefined ? createHash('sha256') : createHmac('sha256', bytes(secret));
  }

  update(data: SourceData): void {
    this.#hash.update(bytes(data));
  }

  async digest(): Promise<Uint8Array> {
    return new Uint8Array(this.#hash.digest());
  }
}

export interface SigningSecret {
  readonly secretAccessKey: string;
  /** Set for temporary credentials: the request must carry it as `x-amz-security-token`. */
  readonly sessionToken?: string;
}

export interface SignedRequest {
  readonly method: string;
  /** The request target as received: path and query. */
  readonly url: string;
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
}

/** Why a signature was refused, in the words AWS uses (the endpoint answers with that code). */
export type SigV4Refusal =
  | 'MissingAuthenticationToken'
  | 'UnrecognizedClient'
  | 'InvalidSignature'
  | 'SignatureExpired';

export interface SigV4Accepted {
  readonly ok: true;
  readonly accessKeyId: string;
}

export interface SigV4Refused {
  readonly ok: false;
  readonly code: SigV4Refusal;
  readonly message: string;
}

export type SigV4Result = SigV4Accepted | SigV4Refused;

const AUTH =
  /^AWS4-HMAC-SHA256 Credential=([^/,\s]+)\/(\d{8})\/([^/,\s]+)\/([^/,\s]+)\/aws4_request, ?SignedHeaders=([a-z0-9;_.-]+), ?Signature=([0-9a-f]{64})$/;

/** AWS accepts a request signed up to 15 minutes before or after its own clock. */
const MAX_SKEW_MS = 15 * 60 * 1000;

function parseAmzDate(value: string): Date | undefined {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(value);
  if (!m) return undefined;
  const date = new Date(Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!));
  return Number.isNaN(date.getTime()) ? undefined : date;
}

function single(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? undefined : value;
}

/**
 * Verifies `request` as signed for `service` in `region`; `lookup` gives the secret (and the
 * session token it must come with) of an access key id, or `undefined` for an unknown key.
 */
export async function verifySigV4(
  request: SignedRequest,
  scope: { readonly region: string; readonly service: string },
  lookup: (accessKeyId: string) => SigningSecret | undefined,
  now: Date = new Date(),
): Promise<SigV4Result> {
  const authorization = single(request.headers.authorization);
  if (!authorization) {
    return { ok: false, code: 'MissingAuthenticationToken', message: 'Missing Authentication Token' };
  }
  const m = AUTH.exec(authorization);
  if (!m) return { ok: false, code: 'InvalidSignature', message: 'Authorization header is malformed' };
  const [, accessKeyId, day, region, service, signedHeaderList, signature] = m as unknown as string[];
  const secret = lookup(accessKeyId!);
  if (!secret) {
    return {
      ok: false,
      code: 'UnrecognizedClient',
      message: 'The security token included in the request is invalid.',
    };
  }
  if (
    secret.sessionToken !== undefined &&
    single(request.headers['x-amz-security-token']) !== secret.sessionToken
  ) {
    return {
      ok: false,
      code: 'UnrecognizedClient',
      message: 'The security token included in the request is invalid.',
    };
  }
  const amzDate = single(request.headers['x-amz-date']);
  const signingDate = amzDate ? parseAmzDate(amzDate) : undefined;
  if (!signingDate || amzDate!.slice(0, 8) !== day) {
    return {
      ok: false,
      code: 'InvalidSignature',
      message: 'X-Amz-Date is missing or does not match the credential scope',
    };
  }
  if (Math.abs(now.getTime() - signingDate.getTime()) > MAX_SKEW_MS) {
    return {
      ok: false,
      code: 'SignatureExpired',
      message: `Signature expired: ${amzDate} is now earlier or later than the allowed window`,
    };
  }
  if (region !== scope.region || service !== scope.service) {
    return {
      ok: false,
      code: 'InvalidSignature',
      message: `Credential should be scoped to a valid region and service: ${scope.region}/${scope.service}`,
    };
  }
  const signedHeaders = signedHeaderList!.split(';');
  if (!signedHeaders.includes('host') || !signedHeaders.includes('x-amz-date')) {
    return { ok: false, code: 'InvalidSignature', message: 'host and x-amz-date must be signed' };
  }
  const headers: Record<string, string> = {};
  for (const name of signedHeaders) {
    const value = request.headers[name];
    if (value === undefined) {
      return { ok: false, code: 'InvalidSignature', message: `signed header ${name} is missing` };
    }
    headers[name] = Array.isArray(value) ? value.join(',') : value;
  }
  // The signer trusts x-amz-content-sha256 as the payload hash; AWS checks it against the body.
  const contentSha = single(request.headers['x-amz-content-sha256']);
  if (contentSha !== undefined && contentSha !== createHash('sha256').update(request.body).digest('hex')) {
    return { ok: false, code: 'InvalidSignature', message: 'x-amz-content-sha256 does not match the body' };
  }
  const url = new URL(request.url, 'http://local');
  const query: Record<string, string | string[]> = {};
  for (const [key, value] of url.searchParams) {
    const prior = query[key];
    query[key] = prior === undefined ? value : [...(Array.isArray(prior) ? prior : [prior]), value];
  }
  const signer = new SignatureV4({
    service,
    region,
    credentials: { accessKeyId: accessKeyId!, secretAccessKey: secret.secretAccessKey },
    sha256: Sha256,
    applyChecksum: false,
  });
  const expected = await signer.sign(
    new HttpRequest({ method: request.method, path: url.pathname, query, headers, body: request.body }),
    // Sign exactly the headers the client signed, including those the signer would skip.
    { signingDate, signableHeaders: new Set(signedHeaders) },
  );
  const expectedSignature =
    /Signature=([0-9a-f]{64})$/.exec(String(expected.headers['authorization']))?.[1] ?? '';
  const ok =
    expectedSignature.length === signature!.length &&
    timingSafeEqual(Buffer.from(expectedSignature), Buffer.from(signature!));
  if (!ok) {
    return {
      ok: false,
      code: 'InvalidSignature',
      message:
        'The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method.',
    };
  }
  return { ok: true, accessKeyId: accessKeyId! };
}
