/**
 * The service-account token the gateway sends to argo-server, read from `tokenFile`. Kubernetes
 * rotates projected service-account tokens by swapping a symlink (`..data`) in the mounted
 * directory, and a Secret update rewrites the file: the file is checked (one `stat`, following
 * links) before every call and read again whenever its identity, size or modification time
 * changed. The token never reaches a log, an error detail or an audit record.
 */
import { readFile, stat } from 'node:fs/promises';
import { GatewayError } from '../../errors.ts';

export interface TokenFile {
  /** The current token; a 503 (`SG_ERR_ARGO_TOKEN_UNAVAILABLE`) when the file cannot be used. */
  read(): Promise<string>;
}

export function createTokenFile(path: string): TokenFile {
  let cached: { readonly version: string; readonly token: string } | undefined;
  const unavailable = (detail: string, cause?: unknown) =>
    new GatewayError('SG_ERR_ARGO_TOKEN_UNAVAILABLE', detail, cause === undefined ? {} : { cause });
  return {
    async read() {
      let version: string;
      try {
        const s = await stat(path, { bigint: true });
        version = `${s.dev}:${s.ino}:${s.size}:${s.mtimeNs}:${s.ctimeNs}`;
      } catch (err) {
        cached = undefined;
        throw unavailable('the gateway cannot read its argo-server token', err);
      }
      if (cached?.version === version) return cached.token;
      let text: string;
      try {
        text = await readFile(path, 'utf8');
      } catch (err) {
        throw unavailable('the gateway cannot read its argo-server token', err);
      }
      const token = text.trim();
      // A header value: visible ASCII only (RFC 9110 §5.5), so the token can never split a header.
      if (!/^[\x21-\x7e]+$/.test(token)) throw unavailable('the gateway’s argo-server token file is empty or malformed');
      cached = { version, token };
      return token;
    },
  };
}
