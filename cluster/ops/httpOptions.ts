// Where a node's HTTP endpoint listens: `hive start --http <host:port>` / HIVE_HTTP, on by default on loopback.
import { ConfigError } from '../../protocols/errors.js';

/** The default host: loopback only (put a reverse proxy or `--http 0.0.0.0:9430` in front to expose it). */
export const DEFAULT_HTTP_HOST = '127.0.0.1';
/** The default port. When it is taken (several nodes on one machine) the node takes the next free one. */
export const DEFAULT_HTTP_PORT = 9430;
/** Ports tried after the default one before falling back to any free port. */
export const DEFAULT_HTTP_PORT_TRIES = 10;

/** A resolved HTTP address. */
export interface HttpAddress {
  host: string;
  port: number;
  /** True for the default address: a taken port moves on to the next free one instead of failing. */
  fallback: boolean;
}

/**
 * Parses `host:port`, `[v6]:port`, `:port` or `port` (0 picks a free port); `off`/`false` turn it off.
 * Throws `INVALID_CONFIG` naming the option otherwise.
 */
export function parseHttpAddress(value: string, option = '--http'): HttpAddress | false {
  const v = value.trim();
  if (v === 'off' || v === 'false' || v === 'none') return false;
  let host = DEFAULT_HTTP_HOST;
  let portText = v;
  const m = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]*):(\d+)$/.exec(v);
  if (m !== null) {
    if (m[1] !== '') host = m[1].startsWith('[') ? m[1].slice(1, -1) : m[1];
    portText = m[2];
  }
  const port = Number(portText);
  if (!/^\d+$/.test(portText) || !Number.isInteger(port) || port > 65535) {
    throw new ConfigError(`option ${option} must be <host>:<port>, :<port> or <port> (0 for any free port), or "off"; got "${value}"`, { details: { option } });
  }
  return { host, port, fallback: false };
}

/**
 * The address a node listens on: `given` (a flag value; `false` for --no-http), else HIVE_HTTP, else the
 * default (127.0.0.1:9430, moving on to a free port when taken).
 */
export function resolveHttpAddress(given: string | boolean | undefined, env: NodeJS.ProcessEnv = process.env): HttpAddress | false {
  if (given === false) return false;
  if (typeof given === 'string') return parseHttpAddress(given, '--http');
  const fromEnv = env['HIVE_HTTP'];
  if (fromEnv !== undefined && fromEnv !== '') return parseHttpAddress(fromEnv, 'HIVE_HTTP');
  return { host: DEFAULT_HTTP_HOST, port: DEFAULT_HTTP_PORT, fallback: true };
}
