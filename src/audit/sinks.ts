/**
 * Where audit lines go. A sink takes whole batches (already serialized, one `\n`-terminated line
 * per record) so the audit log can hand each batch to the OS in one `write`. Sinks do not retry;
 * after a failure the file sink drops its descriptor so the next `ensureOpen` reopens the file.
 */
import type { FileHandle } from 'node:fs/promises';
import { mkdir, open, statfs } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { AuditSinkConfig } from '../config/schema.ts';
import { type FileTail, readFileTail } from './chain.ts';

export interface AuditSink {
  /** The sink type, the `sink` label of `stepgate_audit_records_total`. */
  readonly label: AuditSinkConfig['type'];
  /** Names the sink in operator messages. */
  readonly description: string;
  /** Counts successful (re)opens; the audit log re-reads `tail` when it changes. */
  readonly generation: number;
  /** What the sink held when it was last opened (file sinks), for continuing the hash chain. */
  readonly tail: FileTail | undefined;
  /** Opens the sink if it is not open; memoized, never closes a descriptor in use. */
  ensureOpen(): Promise<void>;
  /** Hands `data` to the OS in one call where it can; `durable` also flushes it to the device. */
  write(data: Buffer, durable: boolean): Promise<void>;
  /** Whether a write could be attempted now (open, and for files, space left on the device). */
  probe(): Promise<boolean>;
  close(): Promise<void>;
}

export interface SinkDeps {
  readonly stdout?: NodeJS.WritableStream;
}

/** Builds the sinks `audit.sinks` names, in order. */
export function createSinks(configs: readonly AuditSinkConfig[], deps: SinkDeps = {}): AuditSink[] {
  return configs.map((config) => {
    switch (config.type) {
      case 'stdout':
        return new StdoutSink(deps.stdout ?? process.stdout);
      case 'file':
        return new FileSink(config.path);
      default: {
        const unknownSink: never = config;
        throw new TypeError(`unknown audit sink ${JSON.stringify(unknownSink)}`);
      }
    }
  });
}

interface MaybeDestroyable {
  readonly destroyed?: boolean;
  readonly writableEnded?: boolean;
}

/** One JSON line per record on a stream (process.stdout by default): for log collectors. */
export class StdoutSink implements AuditSink {
  readonly label = 'stdout';
  readonly description = 'stdout';
  readonly generation = 1;
  readonly tail = undefined;
  readonly #stream: NodeJS.WritableStream;
  #lastError: Error | undefined;
  /** An unhandled 'error' (EPIPE when the reader went away) would end the process. */
  readonly #onError = (err: Error): void => {
    this.#lastError = err;
  };

  constructor(stream: NodeJS.WritableStream) {
    this.#stream = stream;
    stream.on('error', this.#onError);
  }

  #writable(): boolean {
    const state = this.#stream as MaybeDestroyable;
    return this.#stream.writable !== false && state.destroyed !== true && state.writableEnded !== true;
  }

  async ensureOpen(): Promise<void> {
    if (!this.#writable()) throw this.#lastError ?? new Error('stdout is not writable');
  }

  write(data: Buffer): Promise<void> {
    return new Promise((resolve, reject) => {
      if (!this.#writable()) {
        reject(this.#lastError ?? new Error('stdout is not writable'));
        return;
      }
      this.#stream.write(data, (err?: Error | null) => (err ? reject(err) : resolve()));
    });
  }

  async probe(): Promise<boolean> {
    return this.#writable();
  }

  async close(): Promise<void> {
    this.#stream.removeListener('error', this.#onError);
  }
}

const NEWLINE = Buffer.from('\n');

/** Appends to a file (parent directories created), one descriptor opened with O_APPEND. */
export class FileSink implements AuditSink {
  readonly label = 'file';
  readonly description: string;
  generation = 0;
  tail: FileTail | undefined;
  readonly #path: string;
  #handle: FileHandle | undefined;
  #opening: Promise<void> | undefined;
  /** File size as far as this writer knows, to undo a partial write. */
  #size = 0;
  /** The file ended in a torn line: start the next batch on a fresh line. */
  #needsNewline = false;
  #closed = false;

  constructor(path: string) {
    this.#path = path;
    this.description = `file ${path}`;
  }

  ensureOpen(): Promise<void> {
    if (this.#closed) return Promise.reject(new Error(`audit file ${this.#path} is closed`));
    if (this.#handle) return Promise.resolve();
    this.#opening ??= this.#open().finally(() => {
      this.#opening = undefined;
    });
    return this.#opening;
  }

  async #open(): Promise<void> {
    await mkdir(dirname(this.#path), { recursive: true });
    // 'a+' is O_APPEND like 'a' and also lets the tail be read through the same descriptor.
    const handle = await open(this.#path, 'a+', 0o640);
    try {
      const stat = await handle.stat();
      this.tail = stat.isFile() ? await readFileTail(handle, stat.size) : undefined;
      this.#size = stat.size;
      this.#needsNewline = this.tail !== undefined && !this.tail.endsWithNewline;
    } catch (err) {
      await handle.close().catch(() => {});
      throw err;
    }
    if (this.#closed) {
      await handle.close().catch(() => {});
      throw new Error(`audit file ${this.#path} is closed`);
    }
    this.#handle = handle;
    this.generation += 1;
  }

  async write(data: Buffer, durable: boolean): Promise<void> {
    const handle = this.#handle;
    if (!handle) throw new Error(`audit file ${this.#path} is not open`);
    const buffer = this.#needsNewline ? Buffer.concat([NEWLINE, data]) : data;
    const start = this.#size;
    let written = 0;
    try {
      while (written < buffer.length) {
        const { bytesWritten } = await handle.write(buffer, written, buffer.length - written, null);
        if (bytesWritten === 0) throw new Error(`audit file ${this.#path}: short write`);
        written += bytesWritten;
      }
    } catch (err) {
      await this.#undoPartialWrite(handle, start, written);
      await this.#discard();
      throw err;
    }
    this.#size = start + written;
    this.#needsNewline = false;
    if (durable) {
      try {
        await handle.datasync();
      } catch (err) {
        await this.#discard();
        throw err;
      }
    }
  }

  /** A torn line would break the chain for good; cut it off if nothing else wrote since. */
  async #undoPartialWrite(handle: FileHandle, start: number, written: number): Promise<void> {
    if (written === 0) return;
    try {
      const stat = await handle.stat();
      if (stat.isFile() && stat.size === start + written) await handle.truncate(start);
    } catch {
      // The reopen reads the tail again and starts a fresh line after whatever is there.
    }
  }

  async #discard(): Promise<void> {
    const handle = this.#handle;
    this.#handle = undefined;
    await handle?.close().catch(() => {});
  }

  async probe(): Promise<boolean> {
    try {
      await this.ensureOpen();
      // A full disk only shows on write; free blocks are the closest check without writing.
      const fs = await statfs(dirname(this.#path));
      return fs.blocks === 0 || fs.bavail > 0;
    } catch {
      return false;
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    await this.#opening?.catch(() => {});
    await this.#discard();
  }
}
