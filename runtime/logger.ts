// Structured logging through pino, every line tagged with the node id and cluster: JSON lines for machines
// (a process manager, a log shipper), pino's own prettifier (pino-pretty) for a person at a terminal.
import { pino, type DestinationStream, type Logger } from 'pino';
import pretty from 'pino-pretty';
import type { LogFormat, LogLevel } from './config.js';

export type { Logger } from 'pino';

/** The format `auto` picks: pretty when stderr is a terminal, JSON otherwise. */
export function effectiveLogFormat(format: LogFormat, isTty: boolean = process.stderr.isTTY === true): 'pretty' | 'json' {
  return format === 'auto' ? (isTty ? 'pretty' : 'json') : format;
}

/**
 * A pino logger for a node. Logs go to stderr (or `destination`) so stdout stays free for command output:
 * JSON lines, or pretty lines (`format` `pretty`, or `auto` on a terminal).
 */
export function createLogger(options: { level: LogLevel; nodeId: string; cluster: string; format?: LogFormat; destination?: NodeJS.WritableStream }): Logger {
  const base = { level: options.level, base: { node: options.nodeId, cluster: options.cluster } };
  const isTty = options.destination === undefined ? process.stderr.isTTY === true : false;
  if (effectiveLogFormat(options.format ?? 'json', isTty) === 'pretty') {
    const stream = pretty({
      destination: options.destination ?? 2,
      sync: options.destination !== undefined,
      colorize: options.destination === undefined && isTty,
      translateTime: 'SYS:HH:MM:ss.l',
      ignore: 'pid,hostname,cluster',
      messageFormat: '{node} {msg}',
    });
    return pino(base, stream as unknown as DestinationStream);
  }
  if (options.destination !== undefined) return pino(base, options.destination as unknown as DestinationStream);
  return pino(base, pino.destination({ dest: 2, sync: false }));
}

/** A logger that drops everything (tests, benchmarks). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
