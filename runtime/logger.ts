// Structured logging through pino, every line tagged with the node id and cluster.
import { pino, type Logger } from 'pino';
import type { LogLevel } from './config.js';

export type { Logger } from 'pino';

/** A pino logger for a node. Logs go to stderr so stdout stays free for command output. */
export function createLogger(options: { level: LogLevel; nodeId: string; cluster: string }): Logger {
  return pino({ level: options.level, base: { node: options.nodeId, cluster: options.cluster } }, pino.destination({ dest: 2, sync: false }));
}

/** A logger that drops everything (tests, benchmarks). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
