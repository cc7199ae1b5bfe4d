// NATS connection options for a Hive node: their shape, where they come from in the environment
// (HIVE_NATS_*), and the check that refuses a bad value with a ConfigError naming the option (`nats.<key>`).
// Pure apart from reading `env`; no connection is made here (see NatsTransport).
import { redactUrl } from '../runtime/redact.js';
import { fromSeed } from '@nats-io/nkeys';
import { ConfigError } from '../protocols/errors.js';

/** TLS files for the connection (PEM). Setting `tls` at all requires a TLS connection. */
export interface NatsTlsOptions {
  /** CA certificate(s) that sign the server certificate. */
  caFile?: string;
  /** Client certificate, for servers that verify clients (needs `keyFile`). */
  certFile?: string;
  /** Client private key (needs `certFile`). */
  keyFile?: string;
}

/** How a node connects to NATS. Only `servers` is required; at most one of user/pass, token, nkey, credsFile. */
export interface NatsConnectionOptions {
  /** Server URL(s): `nats://host:port`, `tls://host:port` or `host:port`; one, a comma-separated string, or an array. */
  servers: string | string[];
  /** Client name shown in the server's monitoring pages. */
  name?: string;
  /** User name (with `pass`). */
  user?: string;
  /** Password (with `user`). */
  pass?: string;
  /** Authentication token. */
  token?: string;
  /** NKey user seed (`SU...`); the client signs the server's nonce with it. */
  nkey?: string;
  /** Path to a `.creds` file (user JWT + NKey seed), read at connect time. */
  credsFile?: string;
  /** TLS files; see {@link NatsTlsOptions}. */
  tls?: NatsTlsOptions;
  /** Reconnect after losing the server (default true). */
  reconnect?: boolean;
  /** Reconnect attempts per server before giving up; -1 (the default) never gives up. */
  maxReconnectAttempts?: number;
  /** Wait between reconnect attempts to the same server, in ms (default 2000). */
  reconnectTimeWaitMs?: number;
  /** Upper bound of the random delay added to `reconnectTimeWaitMs`, in ms (default 100). */
  reconnectJitterMs?: number;
  /** Unanswered pings before the connection is considered stale (default 2). */
  maxPingOut?: number;
  /** Interval between client pings, in ms (default 120000). */
  pingIntervalMs?: number;
  /** Time allowed for the connection handshake, in ms (default 20000). */
  connectTimeoutMs?: number;
  /** Prefix of the reply inbox (default `_INBOX`), for accounts whose permissions restrict reply subjects. */
  inboxPrefix?: string;
}

/** The options Hive uses when none are given: the local server. */
export const DEFAULT_NATS_URL = 'nats://127.0.0.1:4222';

/** The server URLs of `servers` as a list (a string may hold several, comma-separated). */
export function serverList(servers: string | readonly string[]): string[] {
  const list = typeof servers === 'string' ? servers.split(',') : [...servers];
  return list.map((s) => s.trim()).filter((s) => s.length > 0);
}

/** `servers` for messages and logs, with any `user:pass@` in a URL replaced by `***@`. */
export function describeServers(servers: string | readonly string[]): string {
  return serverList(servers)
    .map((s) => redactUrl(s))
    .join(',');
}

/**
 * Takes credentials out of server URLs (`nats://user:pass@host`, `nats://token@host`): the client does not
 * read them from a URL, so they become `user`/`pass` or `token`, and the URLs it gets carry none. The first
 * URL with credentials wins.
 */
export function credentialsFromUrls(servers: readonly string[]): { servers: string[]; user?: string; pass?: string; token?: string } {
  const out: { servers: string[]; user?: string; pass?: string; token?: string } = { servers: [] };
  let found = false;
  for (const s of servers) {
    const m = /^([a-z][a-z0-9+.-]*:\/\/)([^/?#@]*)@(.*)$/i.exec(s);
    if (m === null) {
      out.servers.push(s);
      continue;
    }
    out.servers.push(`${m[1]}${m[3]}`);
    if (found) continue;
    found = true;
    const info = m[2];
    const colon = info.indexOf(':');
    if (colon < 0) out.token = decodeURIComponent(info);
    else {
      out.user = decodeURIComponent(info.slice(0, colon));
      out.pass = decodeURIComponent(info.slice(colon + 1));
    }
  }
  return out;
}

/**
 * Reads the NATS options present in the environment: `HIVE_NATS_URL` (comma-separated), `HIVE_NATS_USER`,
 * `HIVE_NATS_PASSWORD`, `HIVE_NATS_TOKEN`, `HIVE_NATS_NKEY` (a seed), `HIVE_NATS_CREDS` (a file),
 * `HIVE_NATS_INBOX_PREFIX` (the private reply inbox prefix a restricted user must use),
 * `HIVE_NATS_TLS_CA`, `HIVE_NATS_TLS_CERT`, `HIVE_NATS_TLS_KEY`. Unset or empty variables are left out.
 */
export function natsOptionsFromEnv(env: NodeJS.ProcessEnv): Partial<NatsConnectionOptions> {
  const get = (name: string): string | undefined => {
    const v = env[name]?.trim();
    return v === undefined || v === '' ? undefined : v;
  };
  const out: Partial<NatsConnectionOptions> = {};
  const url = get('HIVE_NATS_URL');
  if (url !== undefined) out.servers = serverList(url);
  const user = get('HIVE_NATS_USER');
  if (user !== undefined) out.user = user;
  const pass = env['HIVE_NATS_PASSWORD']; // a password may legitimately have surrounding spaces
  if (pass !== undefined && pass !== '') out.pass = pass;
  const token = get('HIVE_NATS_TOKEN');
  if (token !== undefined) out.token = token;
  const nkey = get('HIVE_NATS_NKEY');
  if (nkey !== undefined) out.nkey = nkey;
  const creds = get('HIVE_NATS_CREDS');
  if (creds !== undefined) out.credsFile = creds;
  const inboxPrefix = get('HIVE_NATS_INBOX_PREFIX');
  if (inboxPrefix !== undefined) out.inboxPrefix = inboxPrefix;
  const tls: NatsTlsOptions = {};
  const ca = get('HIVE_NATS_TLS_CA');
  if (ca !== undefined) tls.caFile = ca;
  const cert = get('HIVE_NATS_TLS_CERT');
  if (cert !== undefined) tls.certFile = cert;
  const key = get('HIVE_NATS_TLS_KEY');
  if (key !== undefined) tls.keyFile = key;
  if (Object.keys(tls).length > 0) out.tls = tls;
  return out;
}

function fail(option: string, message: string, value?: unknown): never {
  const details: Record<string, unknown> = { option };
  if (value !== undefined) details['value'] = value;
  throw new ConfigError(`${option}: ${message}`, { details });
}

function checkString(o: Record<string, unknown>, key: string, prefix = 'nats'): string | undefined {
  const v = o[key];
  if (v === undefined) return undefined;
  if (typeof v !== 'string' || v.length === 0) fail(`${prefix}.${key}`, 'must be a non-empty string');
  return v;
}

function checkInt(o: Record<string, unknown>, key: string, min: number): void {
  const v = o[key];
  if (v === undefined) return;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min) {
    fail(`nats.${key}`, `must be an integer >= ${min}, got ${JSON.stringify(v)}`, v);
  }
}

const SCHEMES = new Set(['nats:', 'tls:']);

function checkServer(raw: string): void {
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(raw) ? raw : `nats://${raw}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    fail('nats.servers', `${JSON.stringify(describeServers(raw))} is not a server URL (expected nats://host:port)`);
  }
  if (!SCHEMES.has(url.protocol)) {
    fail('nats.servers', `${JSON.stringify(describeServers(raw))} uses scheme ${url.protocol} (expected nats:// or tls://)`);
  }
  if (url.hostname === '') fail('nats.servers', `${JSON.stringify(describeServers(raw))} has no host`);
  if (url.port !== '' && (Number(url.port) < 1 || Number(url.port) > 65535)) {
    fail('nats.servers', `${JSON.stringify(describeServers(raw))} has an invalid port`);
  }
}

/**
 * Checks `o` (typically merged from config, environment and flags) and returns it as complete options.
 * Throws {@link ConfigError} whose message starts with the option's name (`nats.servers`, `nats.pass`, ...)
 * and whose `details.option` holds it. Files (`credsFile`, TLS) are read only at connect time.
 */
export function validateNatsOptions(o: Partial<NatsConnectionOptions>): NatsConnectionOptions {
  if (typeof o !== 'object' || o === null) fail('nats', 'must be an object');
  const r = o as Record<string, unknown>;

  const servers = r['servers'];
  if (servers === undefined) fail('nats.servers', 'is required (e.g. nats://127.0.0.1:4222)');
  if (typeof servers !== 'string' && !(Array.isArray(servers) && servers.every((s) => typeof s === 'string'))) {
    fail('nats.servers', 'must be a URL string or an array of URL strings');
  }
  const list = serverList(servers);
  if (list.length === 0) fail('nats.servers', 'must name at least one server');
  for (const s of list) checkServer(s);

  checkString(r, 'name');
  const user = checkString(r, 'user');
  if (r['pass'] !== undefined && typeof r['pass'] !== 'string') fail('nats.pass', 'must be a string');
  if (r['pass'] !== undefined && user === undefined) fail('nats.pass', 'is set but nats.user is not');
  const token = checkString(r, 'token');
  const seed = checkString(r, 'nkey');
  if (seed !== undefined) {
    if (!seed.startsWith('SU')) fail('nats.nkey', 'must be an NKey user seed (starts with "SU")');
    try {
      fromSeed(new TextEncoder().encode(seed));
    } catch (err) {
      fail('nats.nkey', `is not a valid NKey seed (${(err as Error).message})`);
    }
  }
  const creds = checkString(r, 'credsFile');

  const methods = [
    user !== undefined ? 'nats.user' : undefined,
    token !== undefined ? 'nats.token' : undefined,
    seed !== undefined ? 'nats.nkey' : undefined,
    creds !== undefined ? 'nats.credsFile' : undefined,
  ].filter((m): m is string => m !== undefined);
  if (methods.length > 1) {
    fail(methods[1], `cannot be combined with ${methods[0]}: choose one authentication method`);
  }

  const tls = r['tls'];
  if (tls !== undefined) {
    if (typeof tls !== 'object' || tls === null || Array.isArray(tls)) fail('nats.tls', 'must be an object');
    const t = tls as Record<string, unknown>;
    for (const k of Object.keys(t)) {
      if (k !== 'caFile' && k !== 'certFile' && k !== 'keyFile') fail(`nats.tls.${k}`, 'is not a known option (caFile, certFile, keyFile)');
    }
    checkString(t, 'caFile', 'nats.tls');
    const cert = checkString(t, 'certFile', 'nats.tls');
    const key = checkString(t, 'keyFile', 'nats.tls');
    if (cert !== undefined && key === undefined) fail('nats.tls.keyFile', 'is required with nats.tls.certFile');
    if (key !== undefined && cert === undefined) fail('nats.tls.certFile', 'is required with nats.tls.keyFile');
  }

  if (r['reconnect'] !== undefined && typeof r['reconnect'] !== 'boolean') fail('nats.reconnect', 'must be true or false');
  checkInt(r, 'maxReconnectAttempts', -1);
  checkInt(r, 'reconnectTimeWaitMs', 0);
  checkInt(r, 'reconnectJitterMs', 0);
  checkInt(r, 'maxPingOut', 1);
  checkInt(r, 'pingIntervalMs', 1);
  checkInt(r, 'connectTimeoutMs', 1);
  const prefix = checkString(r, 'inboxPrefix');
  if (prefix !== undefined && !/^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/.test(prefix)) {
    fail('nats.inboxPrefix', 'must be dot-separated subject tokens without wildcards', prefix);
  }
  return o as NatsConnectionOptions;
}
