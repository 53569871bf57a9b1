/**
 * The public listener's certificate, kept current: the `server.tls` pair is read again when its
 * files change (or on `reload()`: SIGHUP) and swapped in with `setSecureContext`, so a renewed
 * certificate (cert-manager, certbot, a mounted Secret) is served to new connections without a
 * restart. A pair that does not load — half-written, mismatched, unreadable — is logged and the
 * pair in use kept: a bad renewal never takes the listener down.
 */
import type { SecureContextOptions } from 'node:tls';
import type { ServerConfig } from '../config/schema.ts';
import { type KeyPair, readKeyPair, TlsFileError } from '../config/tls-files.ts';
import { watchFiles } from '../config/watch-files.ts';
import type { ReloadLog } from './live-runtime.ts';

/** The part of a TLS server this needs (`tls.Server`, and Node's HTTP/2 server). */
export interface SecureContextTarget {
  setSecureContext(options: SecureContextOptions): void;
}

export interface ServerTls {
  /** Reads the pair again now; true when a new pair is being served. */
  reload(): boolean;
  close(): void;
}

export function keepServerTls(
  tls: NonNullable<ServerConfig['tls']>,
  first: KeyPair,
  server: SecureContextTarget,
  log: () => ReloadLog,
): ServerTls {
  let current = first;
  const reload = (): boolean => {
    let next: KeyPair;
    try {
      next = readKeyPair(tls.certFile, tls.keyFile);
    } catch (err) {
      const problem = err instanceof TlsFileError ? { path: `server.tls.${err.key}`, message: err.message } : { path: 'server.tls', message: String(err) };
      log().error({ problems: [problem], serial: current.serial }, 'TLS certificate reload refused: keeping the one in use');
      return false;
    }
    if (next.cert === current.cert && next.key === current.key) return false;
    server.setSecureContext({ cert: next.cert, key: next.key });
    log().info({ serial: next.serial, previous: current.serial }, 'TLS certificate reloaded');
    current = next;
    return true;
  };
  const watcher = watchFiles([tls.certFile, tls.keyFile], reload);
  return { reload, close: () => watcher.close() };
}
