/**
 * Method overrides outside the headers: a `_method` parameter in the query or in a form body.
 * Symfony and Laravel read it from the query and from form fields of a POST, Rails (Rack's
 * MethodOverride) from form fields, including those of a POST with no content type at all — so
 * a caller the policy allowed to POST could DELETE. stepgate refuses such a request (400
 * `SG_ERR_METHOD_OVERRIDE`) rather than rewriting its bytes: the body the policy judged is the body
 * forwarded, or none is.
 *
 * Names are read the way the most forgiving of those parsers reads them: `+` and percent-escapes
 * decoded, any case, PHP's mangling (a leading space, `.` or `[` becomes `_`) and an array suffix
 * (`_method[]`) applied — over-refusing a field literally named `.method` costs nothing.
 */
import { GatewayError } from '../errors.ts';

/** The method-override headers; gateway mode drops them from every forwarded request. */
const OVERRIDE_HEADERS = new Set(['x-http-method-override', 'x-http-method', 'x-method-override']);

/** Whether a header name overrides the method (`_` read as `-`, as CGI and nginx may). */
export function isMethodOverrideHeader(name: string): boolean {
  return OVERRIDE_HEADERS.has(name.toLowerCase().replaceAll('_', '-'));
}

/** Lenient percent-decoding (a malformed escape stays as written), `+` read as a space. */
function decodeName(raw: string): string {
  return raw.replaceAll('+', ' ').replace(/%([0-9a-fA-F]{2})/g, (_, hex: string) => String.fromCharCode(parseInt(hex, 16)));
}

/** Whether a decoded parameter name would be read as `_method` by some framework. */
export function isMethodOverrideName(name: string): boolean {
  // PHP drops leading spaces, reads a leading `.` or `[` as `_`, and `_method[x]` as an array.
  const n = name.trimStart().toLowerCase();
  const mangled = n.startsWith('.') || n.startsWith('[') ? `_${n.slice(1)}` : n;
  return mangled.replace(/\[.*$/s, '') === '_method';
}

/** Whether a query string or `application/x-www-form-urlencoded` text holds a `_method` field. */
export function formHasOverride(text: string): boolean {
  for (const pair of text.split(/[&;]/)) {
    const eq = pair.indexOf('=');
    if (isMethodOverrideName(decodeName(eq < 0 ? pair : pair.slice(0, eq)))) return true;
  }
  return false;
}

/** The `name` of a `Content-Disposition: form-data` value (RFC 7578 §4.2; RFC 8187 `name*` too). */
function dispositionNames(value: string): string[] {
  const names: string[] = [];
  for (const match of value.matchAll(/(?:^|;)\s*name(\*?)\s*=\s*("(?:[^"\\]|\\.)*"|[^;]*)/gi)) {
    let name = match[2]!.trim();
    if (name.startsWith('"')) name = name.slice(1, -1).replace(/\\(.)/g, '$1');
    // Browsers write `"` in a field name as %22, and RFC 8187 values are percent-encoded.
    if (match[1] === '*') name = name.replace(/^[^']*'[^']*'/, '');
    names.push(decodeName(name.replaceAll('+', '%2B')));
  }
  return names;
}

/** Whether a `multipart/form-data` body has a part named `_method`. */
export function multipartHasOverride(body: Buffer, boundary: string): boolean {
  const parts = body.toString('latin1').split(`--${boundary}`);
  for (const part of parts.slice(1)) {
    if (part.startsWith('--')) break;
    const head = part.split(/\r?\n\r?\n/, 1)[0]!;
    for (const line of head.split(/\r?\n/)) {
      const colon = line.indexOf(':');
      if (colon < 0 || line.slice(0, colon).trim().toLowerCase() !== 'content-disposition') continue;
      if (dispositionNames(line.slice(colon + 1)).some(isMethodOverrideName)) return true;
    }
  }
  return false;
}

/** The media type of a Content-Type, lowercased, and its `boundary` parameter. */
function mediaType(contentType: string | undefined): { type: string; boundary: string | undefined } {
  const [type = '', ...params] = (contentType ?? '').split(';');
  let boundary: string | undefined;
  for (const param of params) {
    const eq = param.indexOf('=');
    if (eq > 0 && param.slice(0, eq).trim().toLowerCase() === 'boundary') {
      boundary = param.slice(eq + 1).trim().replace(/^"(.*)"$/, '$1');
    }
  }
  return { type: type.trim().toLowerCase(), boundary };
}

/**
 * Throws SG_ERR_METHOD_OVERRIDE (400) when the query (`search`, with its `?`) or a form body
 * carries a `_method` field. Bodies of other types (JSON, octet streams) are not read.
 */
export function refuseMethodOverride(search: string, contentType: string | undefined, body: unknown): void {
  if (search.length > 1 && formHasOverride(search.slice(1))) {
    throw new GatewayError('SG_ERR_METHOD_OVERRIDE', 'the query holds a "_method" parameter');
  }
  if (!Buffer.isBuffer(body) || body.length === 0) return;
  const { type, boundary } = mediaType(contentType);
  const form =
    type === '' || type === 'application/x-www-form-urlencoded'
      ? formHasOverride(body.toString('latin1'))
      : type === 'multipart/form-data' && boundary
        ? multipartHasOverride(body, boundary)
        : false;
  if (form) throw new GatewayError('SG_ERR_METHOD_OVERRIDE', 'the form body holds a "_method" field');
}
