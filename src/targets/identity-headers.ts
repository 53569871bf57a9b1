/**
 * The identity headers an upstream receives (`X-Stepgate-Subject`, `-Scopes`, `-Groups`, …), in
 * an encoding under which no two identities give the same header.
 *
 * Each value is percent-encoded as UTF-8 (RFC 3986 §2.1, uppercase hex) except for a small safe
 * set: ALPHA, DIGIT and `-._~:/@`. `%` itself is encoded, so `b%C3%B3b` and `bób` differ; so are
 * the list separators (space in `-Scopes`, `,` in `-Groups`) and `+` (which form decoders read as a
 * space). A list is its items, each encoded, joined by the separator; an empty list sends no
 * header at all. Decoding is plain percent-decoding of each item after splitting on the separator.
 *
 * Control characters are refused rather than encoded: a claim that carries CR/LF is an attack, and
 * refusing it keeps the request out of the upstream. So is a lone UTF-16 surrogate, which has no
 * UTF-8 encoding (mapping it to U+FFFD would make two identities collide).
 */
import { GatewayError } from '../errors.ts';
import type { Identity } from '../identity/types.ts';

const HEX = '0123456789ABCDEF';

/** Per ASCII code: 1 when the character is written as itself. */
const SAFE = new Uint8Array(128);
for (const c of 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~:/@') SAFE[c.charCodeAt(0)] = 1;

// Control characters in this regex are intended: finding control characters is the point.
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

/** One identity value, encoded (see the module comment); throws SG_ERR_BAD_HEADER (400). */
export function encodeIdentityValue(value: string): string {
  if (CONTROL.test(value)) {
    throw new GatewayError('SG_ERR_BAD_HEADER', 'an identity value holds control characters');
  }
  if (!value.isWellFormed()) {
    throw new GatewayError('SG_ERR_BAD_HEADER', 'an identity value is not well-formed Unicode');
  }
  let out = '';
  let plainFrom = 0;
  for (let i = 0; i < value.length; i++) {
    const code = value.charCodeAt(i);
    if (code < 128 && SAFE[code] === 1) continue;
    // A surrogate pair is one code point: encode both halves together.
    const width = code >= 0xd800 && code <= 0xdbff ? 2 : 1;
    out += value.slice(plainFrom, i);
    for (const byte of Buffer.from(value.slice(i, i + width), 'utf8')) out += `%${HEX[byte >> 4]}${HEX[byte & 15]}`;
    i += width - 1;
    plainFrom = i + 1;
  }
  return out + value.slice(plainFrom);
}

/** A list: each item encoded, joined by `separator` (which the encoding always escapes). */
export function encodeIdentityList(items: readonly string[], separator: ' ' | ','): string | undefined {
  if (items.length === 0) return undefined;
  return items.map(encodeIdentityValue).join(separator);
}

/**
 * The headers of each frozen identity (the verified-token cache's, shared by every request with
 * its token), encoded once and frozen from its second request on. Seen once it is only marked
 * (`null`), as the audit caller and the assertion are: tokens used once keep nothing extra.
 */
const encoded = new WeakMap<Identity, Readonly<Record<string, string>> | null>();

/** The `X-Stepgate-*` headers for a verified identity; lists that are empty are not sent. */
export function identityHeaders(identity: Identity): Readonly<Record<string, string>> {
  if (!Object.isFrozen(identity)) return encodeIdentity(identity);
  const memo = encoded.get(identity);
  if (memo) return memo;
  const headers = Object.freeze(encodeIdentity(identity));
  encoded.set(identity, memo === undefined ? null : headers);
  return headers;
}

function encodeIdentity(identity: Identity): Record<string, string> {
  const out: Record<string, string> = {
    'x-stepgate-subject': encodeIdentityValue(identity.sub),
    'x-stepgate-issuer': encodeIdentityValue(identity.issuer),
  };
  if (identity.clientId) out['x-stepgate-client'] = encodeIdentityValue(identity.clientId);
  const scopes = encodeIdentityList(identity.scopes, ' ');
  if (scopes !== undefined) out['x-stepgate-scopes'] = scopes;
  const groups = encodeIdentityList(identity.groups, ',');
  if (groups !== undefined) out['x-stepgate-groups'] = groups;
  const email = identity.claims['email'];
  if (typeof email === 'string') out['x-stepgate-email'] = encodeIdentityValue(email);
  return out;
}
