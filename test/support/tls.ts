/**
 * A throw-away PKI for TLS tests, made with openssl in a temp directory at run time (no private
 * key is committed): a CA, and leaf certificates it signs for servers (127.0.0.1, localhost) or
 * clients (mutual TLS). Each leaf gets a fresh random serial, which a test reads back from the
 * certificate a connection presents to tell a rotated certificate from the old one.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface Issued {
  readonly certFile: string;
  readonly keyFile: string;
  readonly cert: string;
  readonly key: string;
  /** Upper-case hex, as `X509Certificate.serialNumber` and `getPeerCertificate().serialNumber` give it. */
  readonly serial: string;
}

export interface TestPki {
  readonly dir: string;
  /** The CA's certificate: what a `caFile` names. */
  readonly caFile: string;
  readonly ca: string;
  /** A leaf signed by this CA; `client` for a client certificate, else a server one for 127.0.0.1. */
  issue(name: string, options?: { client?: boolean }): Issued;
  remove(): void;
}

const openssl = (...args: string[]) => execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });

/** A new CA named `cn` (EC P-256 keys: fast to make). */
export function createTestPki(cn = 'stepgate test CA'): TestPki {
  const dir = mkdtempSync(join(tmpdir(), 'stepgate-pki-'));
  const caKey = join(dir, 'ca.key');
  const caFile = join(dir, 'ca.pem');
  openssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '2',
    '-subj', `/CN=${cn}`, '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign',
    '-keyout', caKey, '-out', caFile);
  return {
    dir,
    caFile,
    ca: readFileSync(caFile, 'utf8'),
    issue(name, options = {}) {
      const keyFile = join(dir, `${name}.key`);
      const certFile = join(dir, `${name}.pem`);
      const csr = join(dir, `${name}.csr`);
      const ext = join(dir, `${name}.ext`);
      writeFileSync(ext, options.client
        ? 'extendedKeyUsage=clientAuth\n'
        : 'extendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n');
      openssl('req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-subj', `/CN=${name}`,
        '-keyout', keyFile, '-out', csr);
      const serial = `0x${(1 + (randomBytes(1)[0]! % 7)).toString(16)}${randomBytes(8).toString('hex').slice(1)}`;
      openssl('x509', '-req', '-in', csr, '-CA', caFile, '-CAkey', caKey, '-set_serial', serial, '-days', '2',
        '-extfile', ext, '-out', certFile);
      return {
        certFile,
        keyFile,
        cert: readFileSync(certFile, 'utf8'),
        key: readFileSync(keyFile, 'utf8'),
        serial: serial.slice(2).toUpperCase(),
      };
    },
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}
