/**
 * TLS material from files: a certificate chain with its private key (`server.tls`, an HTTP
 * target's client certificate) and CA bundles (`caFile`). Each is read and checked here — every
 * PEM block parses, the key belongs to the first certificate — so `stepgate check`, the start and
 * every reload refuse the same files with the same words, and Node's TLS layer never gets a pair
 * that would fail at the first handshake.
 */
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { ConfigError, type ConfigProblem } from '../errors.ts';
import type { Config } from './schema.ts';

/** A checked certificate chain and private key, as PEM text. */
export interface KeyPair {
  readonly cert: string;
  readonly key: string;
  /** The leaf certificate's serial number (hex), for logs. */
  readonly serial: string;
}

/** Why a TLS file cannot be used; `message` is one line for an operator. */
export class TlsFileError extends Error {
  /** Which of the files (`certFile`, `keyFile`, `caFile`). */
  readonly key: 'certFile' | 'keyFile' | 'caFile';
  constructor(key: TlsFileError['key'], message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'TlsFileError';
    this.key = key;
  }
}

function read(key: TlsFileError['key'], path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw new TlsFileError(key, `cannot be read: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, { cause: err });
  }
}

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g;

/** Every certificate of a PEM bundle, parsed; throws when there is none or one does not parse. */
function certificates(key: TlsFileError['key'], pem: string): X509Certificate[] {
  const blocks = pem.match(PEM_CERTIFICATE) ?? [];
  if (blocks.length === 0) throw new TlsFileError(key, 'holds no PEM certificate');
  return blocks.map((block, i) => {
    try {
      return new X509Certificate(block);
    } catch (err) {
      throw new TlsFileError(key, `certificate ${i + 1} does not parse`, { cause: err });
    }
  });
}

/** A CA bundle (`caFile`): PEM text holding one certificate or more. */
export function readCaFile(path: string): string {
  const pem = read('caFile', path);
  certificates('caFile', pem);
  return pem;
}

/** The chain in `certFile` and the key in `keyFile`, checked to belong together. */
export function readKeyPair(certFile: string, keyFile: string): KeyPair {
  const cert = read('certFile', certFile);
  const key = read('keyFile', keyFile);
  const [leaf] = certificates('certFile', cert);
  let privateKey;
  try {
    privateKey = createPrivateKey(key);
  } catch (err) {
    throw new TlsFileError('keyFile', 'holds no PEM private key (or it is encrypted)', { cause: err });
  }
  if (!leaf!.checkPrivateKey(privateKey)) {
    throw new TlsFileError('keyFile', `is not the key of the certificate in ${certFile}`);
  }
  return { cert, key, serial: leaf!.serialNumber };
}

/** `load()`, with a TlsFileError turned into a ConfigError naming the key under `at`. */
function loadAt<T>(at: string, load: () => T): T {
  try {
    return load();
  } catch (err) {
    if (!(err instanceof TlsFileError)) throw err;
    throw new ConfigError([{ path: `${at}.${err.key}`, message: err.message }], { cause: err });
  }
}

/** The `server.tls` pair; a ConfigError when it does not load. */
export const readServerKeyPair = (tls: NonNullable<Config['server']['tls']>): KeyPair =>
  loadAt('server.tls', () => readKeyPair(tls.certFile, tls.keyFile));

/** What a client connection to a target presents and trusts (undici's `connect` TLS options). */
export interface ClientTls {
  readonly ca?: string;
  readonly cert?: string;
  readonly key?: string;
}

export interface ClientTlsFiles {
  readonly caFile?: string | undefined;
  readonly certFile?: string | undefined;
  readonly keyFile?: string | undefined;
}

/**
 * A target's TLS files, read when the target is built (at start and on every reload, so a
 * rotated client certificate takes effect with the next reload); a file that went missing or bad
 * since the config was checked is a ConfigError naming its key under `at` (`targets.api`).
 */
export function readClientTls(at: string, files: ClientTlsFiles): ClientTls {
  return loadAt(at, () => {
    const pair = files.certFile && files.keyFile ? readKeyPair(files.certFile, files.keyFile) : undefined;
    return {
      ...(files.caFile ? { ca: readCaFile(files.caFile) } : {}),
      ...(pair ? { cert: pair.cert, key: pair.key } : {}),
    };
  });
}

/** `check`'s (and every load's) view: each TLS file of the config that cannot be used, by key. */
export function tlsFileProblems(config: Config): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const attempt = (load: () => unknown) => {
    try {
      load();
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      problems.push(...err.problems);
    }
  };
  const { tls } = config.server;
  if (tls) attempt(() => readServerKeyPair(tls));
  config.issuers.forEach((issuer, i) => attempt(() => readClientTls(`issuers[${i}]`, issuer)));
  for (const [name, target] of Object.entries(config.targets)) {
    if (target.type !== 'http') continue;
    const at = `targets.${name}`;
    if (new URL(target.url).protocol !== 'https:') {
      for (const key of ['caFile', 'certFile', 'keyFile'] as const) {
        if (target[key]) problems.push({ path: `${at}.${key}`, message: 'is only for an https url' });
      }
    } else if ((target.certFile === undefined) !== (target.keyFile === undefined)) {
      const missing = target.certFile === undefined ? 'certFile' : 'keyFile';
      problems.push({ path: `${at}.${missing}`, message: 'give certFile and keyFile together (mutual TLS)' });
    } else {
      attempt(() => readClientTls(at, target));
    }
  }
  return problems;
}
