/**
 * One upstream exchange as an undici dispatch handler: the response head becomes an `Outcome`,
 * its body a `BodyStream` written straight into the client's response as chunks arrive — no
 * `Readable` in between, and undici paused while the client's socket is full. A client that goes
 * away aborts the exchange (nginx's `proxy_ignore_client_abort off`); an upstream that breaks off
 * mid-body rejects the relay, so the audit record says what cut it.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { Writable } from 'node:stream';
import type { Dispatcher } from 'undici';
import { GatewayError } from '../errors.ts';
import type { BodyStream, Outcome } from './target.ts';

const TIMEOUT_CODES = new Set(['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'UND_ERR_CONNECT_TIMEOUT']);

/** undici's transport errors, sorted into 504 (too slow) and 502 (not there / broke). */
export function mapUpstreamError(error: unknown): GatewayError {
  const code = (error as { code?: string }).code;
  const causeCode = (error as { cause?: { code?: string } }).cause?.code;
  if (TIMEOUT_CODES.has(code ?? '') || TIMEOUT_CODES.has(causeCode ?? '')) {
    return new GatewayError('SG_ERR_UPSTREAM_TIMEOUT', 'the upstream did not answer in time', { cause: error });
  }
  return new GatewayError('SG_ERR_UPSTREAM_UNAVAILABLE', 'the upstream could not be reached', { cause: error });
}

/** RFC 9110 §15: a status an HTTP/1.1 response may carry to the client. */
const relayable = (status: number) => status >= 200 && status <= 599;

export interface RelayOptions {
  readonly signal: AbortSignal;
  /** The response head as the client may see it (hop-by-hop and the gateway's own removed). */
  readonly responseHeaders: (headers: IncomingHttpHeaders) => Record<string, string | string[]>;
  /** Called once, when the head arrives or the exchange fails before it. */
  readonly onHead: () => void;
}

type Settle<T> = { resolve: (value: T) => void; reject: (err: GatewayError) => void };

export class UpstreamRelay implements Dispatcher.DispatchHandler, BodyStream {
  readonly kind = 'stream';
  readonly #options: RelayOptions;
  #controller: Dispatcher.DispatchController | undefined;
  #head: Settle<Outcome> | undefined;
  #headSettled = false;
  #done: Settle<void> | undefined;
  #sink: Writable | undefined;
  /** Chunks that arrived before `pipeTo`. */
  #pending: Buffer[] = [];
  #ended = false;
  #failure: GatewayError | undefined;
  readonly #onAbort = () => {
    this.#controller?.abort(new GatewayError('SG_ERR_CLIENT_ABORTED'));
  };

  readonly #resume = () => {
    this.#controller?.resume();
  };

  constructor(options: RelayOptions) {
    this.#options = options;
  }

  /** The outcome, once the upstream's head is in; rejects (502/504, or client gone) before that. */
  outcome(): Promise<Outcome> {
    return new Promise((resolve, reject) => {
      this.#head = { resolve, reject };
      this.#options.signal.addEventListener('abort', this.#onAbort, { once: true });
    });
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.#controller = controller;
    if (this.#options.signal.aborted) this.#onAbort();
  }

  onResponseStart(controller: Dispatcher.DispatchController, statusCode: number, headers: IncomingHttpHeaders): void {
    if (!relayable(statusCode)) {
      controller.abort(new Error(`status ${statusCode}`));
      this.#settleHead(undefined, new GatewayError('SG_ERR_UPSTREAM_UNAVAILABLE', `the upstream answered with status ${statusCode}`));
      return;
    }
    this.#settleHead({ status: statusCode, headers: this.#options.responseHeaders(headers), body: this });
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    const sink = this.#sink;
    if (!sink) {
      this.#pending.push(chunk);
      return;
    }
    if (!sink.write(chunk)) {
      controller.pause();
      sink.once('drain', this.#resume);
    }
  }

  onResponseEnd(): void {
    this.#ended = true;
    this.#options.signal.removeEventListener('abort', this.#onAbort);
    if (!this.#sink) return;
    this.#sink.end();
    this.#done?.resolve();
  }

  onResponseError(_controller: Dispatcher.DispatchController, error: Error): void {
    const failure = this.#options.signal.aborted
      ? new GatewayError('SG_ERR_CLIENT_ABORTED', undefined, { cause: error })
      : mapUpstreamError(error);
    if (!this.#headSettled) {
      this.#settleHead(undefined, failure);
      return;
    }
    this.#options.signal.removeEventListener('abort', this.#onAbort);
    this.#failure = failure;
    this.#done?.reject(failure);
  }

  pipeTo(sink: Writable): Promise<void> {
    this.#sink = sink;
    return new Promise<void>((resolve, reject) => {
      if (this.#failure) {
        reject(this.#failure);
        return;
      }
      this.#done = { resolve, reject };
      let full = false;
      for (const chunk of this.#pending) full = !sink.write(chunk) || full;
      this.#pending = [];
      if (this.#ended) {
        sink.end();
        resolve();
      } else if (full) {
        this.#controller?.pause();
        sink.once('drain', this.#resume);
      }
    });
  }

  discard(): void {
    this.#pending = [];
    if (!this.#ended && !this.#failure) this.#controller?.abort(new Error('response not wanted'));
  }

  #settleHead(outcome: Outcome | undefined, failure?: GatewayError): void {
    if (this.#headSettled) return;
    this.#headSettled = true;
    this.#options.onHead();
    if (failure) {
      this.#options.signal.removeEventListener('abort', this.#onAbort);
      this.#head!.reject(failure);
    } else {
      this.#head!.resolve(outcome!);
    }
  }
}
