/**
 * Starts the real gateway on port 0 (public and admin) with its audit and log output captured,
 * so a test can assert what a user — and an auditor — would see.
 */
import { Writable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { buildGateway, type GatewayDeps } from '../../src/app.ts';
import { parseConfig } from '../../src/config/load.ts';
import type { AuditRecord } from '../../src/audit/record.ts';

/** Collects everything written to it; `text()` for the whole, `lines()` for JSON lines. */
export class Capture extends Writable {
  readonly chunks: string[] = [];
  override _write(chunk: Buffer | string, _encoding: BufferEncoding, callback: () => void): void {
    this.chunks.push(chunk.toString());
    callback();
  }

  text(): string {
    return this.chunks.join('');
  }

  lines<T = unknown>(): T[] {
    return this.text()
      .split('\n')
      .filter((line) => line.trim() !== '')
      .map((line) => JSON.parse(line) as T);
  }
}

/** Every capture of every gateway a test file started: the no-token-leak test reads them all. */
export const allCaptures: Capture[] = [];

export interface TestGateway {
  readonly app: FastifyInstance;
  readonly url: string;
  readonly adminUrl: string;
  /** The decision listener (on 127.0.0.1, port 0), when the config has `decision`. */
  readonly decisionUrl: string | undefined;
  readonly audit: Capture;
  readonly logs: Capture;
  /** Audit records written so far (waits for the audit log to flush). */
  auditRecords(): Promise<AuditRecord[]>;
  /** The audit record of one request, by its request id. */
  auditFor(requestId: string): Promise<AuditRecord>;
  /** `stepgate_requests_total` summed over its labels, as the admin port reports it. */
  requestsCounted(labels?: Record<string, string>): Promise<number>;
  close(): Promise<void>;
}

/**
 * `document` is a config as YAML would parse it; `server`, `admin` and `audit.sinks` default to
 * loopback, port 0 and a captured stdout sink.
 */
export async function startGateway(
  document: Record<string, unknown>,
  deps: Omit<GatewayDeps, 'auditStdout' | 'logStream'> = {},
): Promise<TestGateway> {
  const doc = {
    ...document,
    server: { host: '127.0.0.1', port: 0, ...(document['server'] as object | undefined) },
    admin: { host: '127.0.0.1', port: 0, ...(document['admin'] as object | undefined) },
    audit: { sinks: [{ type: 'stdout' }], ...(document['audit'] as object | undefined) },
    logging: { level: 'info', ...(document['logging'] as object | undefined) },
  };
  const config = parseConfig(doc, {});
  const audit = new Capture();
  const logs = new Capture();
  allCaptures.push(audit, logs);
  const app = await buildGateway(config, { ...deps, auditStdout: audit, logStream: logs });
  // Port 0 unless the document names one (SSO tests need the port before the IdP starts).
  const url = await app.listen({ host: '127.0.0.1', port: config.server.port });
  const adminUrl = await app.stepgate.admin.listen({ host: '127.0.0.1', port: 0 });
  const decisionUrl = await app.stepgate.decision?.listen({ host: '127.0.0.1', port: 0 });
  const settle = () => new Promise((resolve) => setTimeout(resolve, 20));
  return {
    app,
    url,
    adminUrl,
    decisionUrl,
    audit,
    logs,
    async auditRecords() {
      await settle();
      return audit.lines<AuditRecord>();
    },
    async auditFor(requestId) {
      for (let i = 0; i < 50; i++) {
        const found = audit.lines<AuditRecord>().find((r) => r.requestId === requestId);
        if (found) return found;
        await settle();
      }
      throw new Error(`no audit record for request ${requestId}`);
    },
    async requestsCounted(labels = {}) {
      const text = await (await fetch(`${adminUrl}/metrics`)).text();
      let sum = 0;
      for (const [, set, value] of text.matchAll(/^stepgate_requests_total\{([^}]*)\} (\d+)$/gm)) {
        if (Object.entries(labels).every(([k, v]) => set!.includes(`${k}="${v}"`))) sum += Number(value);
      }
      return sum;
    },
    close: () => app.close(),
  };
}

/** Polls `check` until it returns a value other than undefined/false (every 10 ms, for 5 s at most). */
export async function eventually<T>(
  check: () => T | undefined | false | Promise<T | undefined | false>,
  what: string,
): Promise<T> {
  const deadline = Date.now() + 5000;
  while (Date.now() < deadline) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** Waits until every issuer's keys are in (what /readyz reports). */
export async function waitReady(gateway: TestGateway): Promise<void> {
  for (let i = 0; i < 100; i++) {
    const res = await fetch(`${gateway.adminUrl}/readyz`);
    if (res.status === 200) return;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error('gateway not ready');
}
