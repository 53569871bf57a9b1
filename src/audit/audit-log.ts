/**
 * The audit log: the one object the request pipeline writes records to.
 *
 * `write` only queues. Records queued in one turn of the event loop are chained, serialized and
 * handed to each sink as one buffer (one `write` syscall per file), and the next batch waits for
 * that one: group commit, as databases do for their logs. Each `write` promise settles when its
 * batch has reached every sink (or failed to).
 *
 * `failClosed`: after a sink fails, `preflight()` throws SG_ERR_AUDIT_UNAVAILABLE so the gateway
 * refuses new requests (503) before forwarding them, and `write` rejects, until a write to that
 * sink succeeds again. The refused requests are still audited, and those writes are what try the
 * failed sink again (a file is reopened); `ready()` probes it too, so an instance taken out of a
 * load balancer for being unready is not stuck there. Without `failClosed`, failures are counted
 * and reported to stderr once per streak, never thrown.
 *
 * `checkpoints`: a signed checkpoint (checkpoint.ts) joins the chain after every `everyRecords`
 * records, after `everySeconds` seconds with new records, and at `close()` (final). Signing is
 * per checkpoint, never per record, so the writer's throughput stays what it was.
 */
import { loadCheckpointKey } from '../config/checkpoint-key.ts';
import type { AuditConfig, CheckpointsConfig } from '../config/schema.ts';
import { ConfigError, GatewayError } from '../errors.ts';
import { chainLine, GENESIS_HASH } from './chain.ts';
import { type CheckpointSigner, createCheckpointSigner } from './checkpoint.ts';
import type { AuditRecord } from './record.ts';
import { toJsonLine } from './sanitize.ts';
import { type AuditSink, createSinks } from './sinks.ts';

export interface AuditWriteOptions {
  /** Also flush to the device (fdatasync) before resolving: Step Functions intent records. */
  readonly durable?: boolean;
}

export interface AuditLog {
  /** Queues a record; settles once it is written to every sink (see the module comment). */
  write(record: AuditRecord, options?: AuditWriteOptions): Promise<void>;
  /** Throws SG_ERR_AUDIT_UNAVAILABLE when `failClosed` and a record could not be written now. */
  preflight(): void;
  /** Every sink writable now (for /readyz). */
  ready(): Promise<boolean>;
  /** Writes everything queued, then closes the sinks; later writes are refused. */
  close(): Promise<void>;
}

export interface AuditLogDeps {
  /** The stream of the `stdout` sink; process.stdout by default. */
  readonly stdout?: NodeJS.WritableStream;
  /** Where sink failures and recoveries are reported; process.stderr by default. */
  readonly stderr?: NodeJS.WritableStream;
  /** Called once per record and sink: feeds `stepgate_audit_records_total{sink,result}`. */
  readonly onRecord?: (sink: string, result: 'ok' | 'error') => void;
  /** Records queued beyond this are refused (failClosed) or dropped: a stalled disk must not
   * grow memory without bound. */
  readonly maxPending?: number;
}

export const DEFAULT_MAX_PENDING = 10_000;

/**
 * Builds the audit log for `audit:`; sinks are opened on first use (or by `ready()`). An unusable
 * checkpoint key is a `ConfigError` here, at boot.
 */
export function createAuditLog(config: AuditConfig, deps: AuditLogDeps = {}): AuditLog {
  return new GroupCommitAuditLog(config, deps, config.checkpoints && checkpointsOf(config.checkpoints));
}

interface Checkpoints {
  readonly signer: CheckpointSigner;
  readonly everyRecords: number;
  readonly everySeconds: number;
}

function checkpointsOf(config: CheckpointsConfig): Checkpoints {
  try {
    const signer = createCheckpointSigner(loadCheckpointKey(config));
    return { signer, everyRecords: config.everyRecords, everySeconds: config.everySeconds };
  } catch (err) {
    const path = `audit.checkpoints.${config.keyFile === undefined ? 'key' : 'keyFile'}`;
    throw new ConfigError([{ path, message: (err as Error).message }], { cause: err });
  }
}

/** `none`: no checkpoint is due; `due`: one is (records or time); `final`: the closing one. */
type CheckpointState = 'none' | 'due' | 'final';

interface Pending {
  readonly record: AuditRecord;
  readonly durable: boolean;
  readonly resolve: () => void;
  readonly reject: (err: unknown) => void;
}

interface SinkState {
  readonly sink: AuditSink;
  /** The last write failed; cleared by the next one that succeeds. */
  failed: boolean;
  /** Records lost in the current failure streak. */
  lost: number;
}

class GroupCommitAuditLog implements AuditLog {
  readonly #failClosed: boolean;
  readonly #hashChain: boolean;
  readonly #states: SinkState[];
  /** The sink whose file the chain continues on reopen: the first file sink. */
  readonly #anchor: SinkState | undefined;
  readonly #stderr: NodeJS.WritableStream;
  readonly #onRecord: AuditLogDeps['onRecord'];
  readonly #maxPending: number;
  #queue: Pending[] = [];
  #running: Promise<void> | undefined;
  #head = GENESIS_HASH;
  #anchorGeneration = 0;
  #overflowReported = false;
  #closed = false;
  #closing: Promise<void> | undefined;
  readonly #checkpoints: Checkpoints | undefined;
  readonly #checkpointTimer: NodeJS.Timeout | undefined;
  #checkpoint: CheckpointState = 'none';
  /** Records chained since the last checkpoint. */
  #sinceCheckpoint = 0;
  /** Something was written by this writer: closing it then leaves a final checkpoint. */
  #wrote = false;

  constructor(config: AuditConfig, deps: AuditLogDeps, checkpoints?: Checkpoints) {
    this.#failClosed = config.failClosed;
    this.#hashChain = config.hashChain;
    this.#states = createSinks(config.sinks, deps).map((sink) => ({ sink, failed: false, lost: 0 }));
    this.#anchor = this.#states.find((s) => s.sink.label === 'file');
    this.#stderr = deps.stderr ?? process.stderr;
    this.#onRecord = deps.onRecord;
    this.#maxPending = deps.maxPending ?? DEFAULT_MAX_PENDING;
    this.#checkpoints = checkpoints;
    if (checkpoints) {
      this.#checkpointTimer = setInterval(() => {
        if (this.#sinceCheckpoint === 0 || this.#closed) return;
        this.#checkpoint = 'due';
        this.#running ??= this.#run();
      }, checkpoints.everySeconds * 1000);
      this.#checkpointTimer.unref();
    }
  }

  write(record: AuditRecord, options: AuditWriteOptions = {}): Promise<void> {
    if (this.#closed) return this.#refuse(new Error('audit log is closed'));
    if (this.#queue.length >= this.#maxPending) {
      if (!this.#overflowReported) {
        this.#overflowReported = true;
        this.#report(`audit queue is full (${this.#maxPending} records pending): sinks are too slow`);
      }
      return this.#refuse(new Error('audit queue is full'));
    }
    return new Promise((resolve, reject) => {
      this.#queue.push({ record, durable: options.durable === true, resolve, reject });
      this.#running ??= this.#run();
    });
  }

  preflight(): void {
    if (!this.#failClosed) return;
    if (this.#closed || this.#queue.length >= this.#maxPending || this.#states.some((s) => s.failed)) {
      throw new GatewayError('SG_ERR_AUDIT_UNAVAILABLE');
    }
  }

  async ready(): Promise<boolean> {
    if (this.#closed) return false;
    const writable = await Promise.all(this.#states.map((s) => s.sink.probe()));
    return writable.every(Boolean);
  }

  close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#checkpointTimer);
    this.#closing ??= (async () => {
      while (this.#running) await this.#running;
      if (this.#checkpoints && this.#wrote) {
        this.#checkpoint = 'final';
        await this.#run();
      }
      await Promise.all(this.#states.map((s) => s.sink.close()));
    })();
    return this.#closing;
  }

  /** A record that never reached the queue: counted as an error on every sink. */
  #refuse(cause: Error): Promise<void> {
    for (const { sink } of this.#states) this.#count(sink.label, 'error', 1);
    if (!this.#failClosed) return Promise.resolve();
    return Promise.reject(new GatewayError('SG_ERR_AUDIT_UNAVAILABLE', undefined, { cause }));
  }

  async #run(): Promise<void> {
    // Let every request of this turn of the event loop queue its record first.
    await new Promise<void>((resolve) => setImmediate(resolve));
    try {
      while (this.#queue.length > 0 || this.#checkpoint !== 'none') {
        const batch = this.#queue;
        this.#queue = [];
        this.#overflowReported = false;
        await this.#commit(batch);
      }
    } finally {
      this.#running = undefined;
    }
  }

  /** Writes one batch to every sink; never throws (each record's promise carries the outcome). */
  async #commit(batch: Pending[]): Promise<void> {
    const openErrors = await Promise.all(this.#states.map((s) => s.sink.ensureOpen().then(noError, asError)));
    const anchor = this.#anchor?.sink;
    if (anchor && anchor.generation !== this.#anchorGeneration) {
      // Opened or reopened: continue the chain from what the file holds, so records lost in a
      // failure leave no gap in the file's chain.
      this.#head = anchor.tail?.lastHash ?? GENESIS_HASH;
      this.#anchorGeneration = anchor.generation;
    }

    const accepted: Pending[] = [];
    let text = '';
    let durable = false;
    for (const pending of batch) {
      try {
        if (this.#hashChain) {
          const linked = chainLine(pending.record, this.#head);
          text += linked.line + '\n';
          this.#head = linked.hash;
        } else {
          text += toJsonLine(pending.record) + '\n';
        }
        accepted.push(pending);
        durable ||= pending.durable;
      } catch (err) {
        // Not JSON-serializable (a bug in the caller): this record only.
        this.#settle([pending], err);
      }
    }
    if (this.#checkpoints && accepted.length > 0) {
      this.#sinceCheckpoint += accepted.length;
      if (this.#sinceCheckpoint >= this.#checkpoints.everyRecords && this.#checkpoint === 'none') {
        this.#checkpoint = 'due';
      }
    }
    if (this.#checkpoint !== 'none') {
      text += this.#checkpointLine();
      durable ||= this.#checkpoint === 'final';
      this.#checkpoint = 'none';
    } else if (accepted.length === 0) {
      return;
    }
    this.#wrote = true;
    const data = Buffer.from(text);

    const results = await Promise.all(
      this.#states.map((s, i) => openErrors[i] ?? s.sink.write(data, durable).then(noError, asError)),
    );
    let failure: Error | undefined;
    this.#states.forEach((state, i) => {
      const err = results[i];
      this.#count(state.sink.label, err ? 'error' : 'ok', accepted.length);
      this.#track(state, err, accepted.length);
      failure ??= err;
    });
    this.#settle(accepted, failure);
  }

  /** A checkpoint over the chain head, chained onto it like a record; `\n`-terminated. */
  #checkpointLine(): string {
    const checkpoint = this.#checkpoints!.signer.checkpoint(this.#head, {
      time: new Date(),
      final: this.#checkpoint === 'final',
    });
    const linked = chainLine(checkpoint, this.#head);
    this.#head = linked.hash;
    this.#sinceCheckpoint = 0;
    return linked.line + '\n';
  }

  #settle(batch: readonly Pending[], failure: unknown): void {
    if (failure === undefined || !this.#failClosed) {
      for (const pending of batch) pending.resolve();
      return;
    }
    for (const pending of batch) {
      pending.reject(new GatewayError('SG_ERR_AUDIT_UNAVAILABLE', undefined, { cause: failure }));
    }
  }

  /** Failure streaks: reported once when they start and once when they end. */
  #track(state: SinkState, err: Error | undefined, records: number): void {
    if (err) {
      if (!state.failed) {
        const effect = this.#failClosed ? 'requests are refused until it recovers' : 'records are dropped';
        this.#report(`audit sink ${state.sink.description} failed (${describe(err)}); ${effect}`);
      }
      state.failed = true;
      state.lost += records;
    } else if (state.failed) {
      this.#report(
        `audit sink ${state.sink.description} recovered; ${state.lost} record(s) were not written`,
      );
      state.failed = false;
      state.lost = 0;
    }
  }

  #count(sink: string, result: 'ok' | 'error', times: number): void {
    if (!this.#onRecord) return;
    try {
      for (let i = 0; i < times; i++) this.#onRecord(sink, result);
    } catch {
      // A metrics callback must not stop audit writing.
    }
  }

  #report(message: string): void {
    try {
      this.#stderr.write(`stepgate: ${message}\n`);
    } catch {
      // Nowhere left to report to.
    }
  }
}

function noError(): undefined {
  return undefined;
}

function asError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}

function describe(err: Error): string {
  const code = (err as { code?: unknown }).code;
  return typeof code === 'string' ? `${code}: ${err.message}` : err.message;
}
