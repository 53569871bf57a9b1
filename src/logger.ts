/**
 * Where and how the gateway logs: stderr by default (stdout on request, never together with an
 * audit `stdout` sink: see config/cross-check.ts), as pino's JSON lines or, for a terminal,
 * pino-pretty's one readable line per entry. Audit records never go through the logger.
 */
import { prettyFactory } from 'pino-pretty';
import type { LoggingConfig } from './config/schema.ts';

/** What pino writes to: one whole log line per call. */
export interface LogDestination {
  write(line: string): void;
}

export function createLogDestination(logging: LoggingConfig, given?: NodeJS.WritableStream): LogDestination {
  const out = given ?? (logging.destination === 'stdout' ? process.stdout : process.stderr);
  if (logging.format === 'json') return out;
  const pretty = prettyFactory({
    colorize: (out as { isTTY?: boolean }).isTTY === true,
    ignore: 'pid,hostname',
    translateTime: 'SYS:HH:MM:ss.l',
  });
  return { write: (line) => void out.write(pretty(line)) };
}
