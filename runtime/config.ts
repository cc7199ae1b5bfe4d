// Node configuration: exported defaults, an environment loader, and one resolve step that validates every
// option at the boundary with an error naming the option (nats.js `options.ts` style).
import { redactUrl } from './redact.js';
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { ConfigError } from '../protocols/errors.js';
import { COMPRESSION_FORMATS, type CompressionFormat } from '../protocols/compression.js';
import { defaultFrameOptions } from '../protocols/frame.js';
import { isToken } from '../protocols/subjects.js';

/** Log levels pino understands. */
export const LogLevels = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
/** A log level. */
export type LogLevel = (typeof LogLevels)[number];
/** Log line formats: `pretty` (pino-pretty, for a terminal), `json` (one object a line), `auto` (pretty on a TTY). */
export const LogFormats = ['auto', 'pretty', 'json'] as const;
/** A log format. */
export type LogFormat = (typeof LogFormats)[number];

/** How to reach NATS. Credentials are optional; see the README for the environment variables. */
export interface NatsSettings {
  /** One or more `nats://host:port` URLs. */
  servers: string[];
  user?: string;
  pass?: string;
  token?: string;
  /** An NKey user seed (`SU...`). */
  nkey?: string;
  /** Path to a `.creds` file (JWT + NKey). */
  credsFile?: string;
  tls?: { caFile?: string; certFile?: string; keyFile?: string };
}

/** A node's resolved configuration: every option has a value. */
export interface HiveConfig {
  /** Cluster name: one subject token. Nodes with the same name on the same NATS form a cluster. */
  cluster: string;
  /** This node's id: one subject token. */
  nodeId: string;
  /** NATS to join; `undefined` runs on the in-process transport. */
  nats: NatsSettings | undefined;
  /** Folder for the node's data (embedded database, a child nats-server's store). */
  dataDir: string;
  /** PostgreSQL URL for memory; `undefined` uses embedded PGlite under `dataDir`. */
  database: string | undefined;
  logLevel: LogLevel;
  /** Log lines: `auto` (pretty when stderr is a terminal, JSON otherwise), `pretty` or `json`. */
  logFormat: LogFormat;
  /** Messages an actor's mailbox holds before senders get `OVERLOADED`. */
  mailboxCapacity: number;
  /** Estimated bytes an actor's mailbox holds (behind the message being handled) before senders get `OVERLOADED`. */
  mailboxMaxBytes: number;
  /** Recent dead letters this node keeps a summary of (`hive.deadLetters.recent()`); older ones are evicted. */
  deadLetterKeep: number;
  /** Task ids this node may wait for at once (`pool.submit`, `hive.submit`, submissions over NATS); past it `OVERLOADED`. */
  maxSubmissionWaiters: number;
  /** Messages the cluster's durable task queue (JetStream stream `HIVE_<cluster>_TASKS`) holds; past it `OVERLOADED`. */
  taskQueueMaxMessages: number;
  /** Bytes the cluster's durable task queue holds; past it `OVERLOADED`. */
  taskQueueMaxBytes: number;
  /** Largest durable task message (a pool task, a memory batch); past it `TOO_LARGE`. */
  taskMaxBytes: number;
  /** Default ask timeout (also the limit for answering a JSON request from the NATS CLI). */
  askTimeoutMs: number;
  /** Largest frame, and largest body a frame may inflate to. */
  maxMessageBytes: number;
  /** Bodies at least this large are compressed (when that pays). */
  compressThresholdBytes: number;
  /** Brotli quality or deflate level, 1-9. */
  compressLevel: number;
  /**
   * The format compressed frames are written in: `brotli` (default) or `deflate` (what nodes before brotli
   * read: set it while such nodes are in the cluster). Every node reads both.
   */
  compressFormat: CompressionFormat;
  /** How often a node announces itself. */
  heartbeatMs: number;
  /** A node silent this long is considered failed. */
  failureAfterMs: number;
  /**
   * Replicas of every JetStream stream and KV bucket this node creates (work queues, dead letters, placement,
   * snapshots, results, ...): 1 on a single nats-server; 3 (or 5) on a JetStream cluster of at least that many
   * servers, so that losing a server loses nothing acknowledged. Applies when a stream or bucket is created.
   */
  jsReplicas: number;
  /**
   * A virtual actor that got no message for this long passivates: its state is saved, its actor stopped, its
   * placement released; the next message activates it again with that state. 0 never passivates.
   */
  passivateAfterMs: number;
}

/** What callers pass: any subset of {@link HiveConfig}, with `nats` also accepted as a URL string. */
export type HiveOptions = Partial<Omit<HiveConfig, 'nats'>> & { nats?: NatsSettings | string | string[] | false | undefined };

/** How long a virtual actor may go without a message before it passivates (15 minutes, as Orleans' collection age). */
export const DEFAULT_PASSIVATE_AFTER_MS = 900_000;

/** The defaults every option falls back to. */
export const defaultConfig: Readonly<Omit<HiveConfig, 'nodeId'>> = Object.freeze({
  cluster: 'hive',
  nats: undefined,
  dataDir: '.hive',
  database: undefined,
  logLevel: 'info',
  logFormat: 'auto',
  mailboxCapacity: 10_000,
  mailboxMaxBytes: 64 * 1024 * 1024,
  deadLetterKeep: 100,
  maxSubmissionWaiters: 10_000,
  taskQueueMaxMessages: 1_000_000,
  taskQueueMaxBytes: 1024 * 1024 * 1024,
  taskMaxBytes: 8 * 1024 * 1024,
  askTimeoutMs: 5_000,
  maxMessageBytes: defaultFrameOptions.maxMessageBytes,
  compressThresholdBytes: defaultFrameOptions.compressThresholdBytes,
  compressLevel: defaultFrameOptions.compressLevel,
  compressFormat: defaultFrameOptions.compressFormat,
  heartbeatMs: 1_000,
  failureAfterMs: 5_000,
  jsReplicas: 1,
  passivateAfterMs: DEFAULT_PASSIVATE_AFTER_MS,
});

const knownOptions = new Set([...Object.keys(defaultConfig), 'nodeId']);

/** A fresh node id: the host name (made token-safe) plus a random suffix. */
export function generateNodeId(): string {
  const host = hostname().replace(/[^A-Za-z0-9_-]/g, '-').slice(0, 40) || 'node';
  return `${host}-${randomBytes(3).toString('hex')}`;
}

/** The environment variable each option is read from (named in errors about a value that came from it). */
export const envVarOf: Readonly<Record<string, string>> = Object.freeze({
  cluster: 'HIVE_CLUSTER',
  nodeId: 'HIVE_NODE_ID',
  nats: 'HIVE_NATS_URL',
  dataDir: 'HIVE_DATA_DIR',
  database: 'HIVE_DATABASE_URL',
  logLevel: 'HIVE_LOG_LEVEL',
  mailboxCapacity: 'HIVE_MAILBOX_CAPACITY',
  mailboxMaxBytes: 'HIVE_MAILBOX_MAX_BYTES',
  deadLetterKeep: 'HIVE_DEAD_LETTER_KEEP',
  maxSubmissionWaiters: 'HIVE_MAX_SUBMISSION_WAITERS',
  taskQueueMaxMessages: 'HIVE_TASK_QUEUE_MAX_MESSAGES',
  taskQueueMaxBytes: 'HIVE_TASK_QUEUE_MAX_BYTES',
  taskMaxBytes: 'HIVE_TASK_MAX_BYTES',
  askTimeoutMs: 'HIVE_ASK_TIMEOUT_MS',
  maxMessageBytes: 'HIVE_MAX_MESSAGE_BYTES',
  compressThresholdBytes: 'HIVE_COMPRESS_THRESHOLD_BYTES',
  compressLevel: 'HIVE_COMPRESS_LEVEL',
  compressFormat: 'HIVE_COMPRESS_FORMAT',
  heartbeatMs: 'HIVE_HEARTBEAT_MS',
  failureAfterMs: 'HIVE_FAILURE_AFTER_MS',
  jsReplicas: 'HIVE_JS_REPLICAS',
  passivateAfterMs: 'HIVE_PASSIVATE_AFTER_MS',
});

const intVars: Array<[string, keyof HiveConfig]> = [
  ['HIVE_MAILBOX_CAPACITY', 'mailboxCapacity'],
  ['HIVE_MAILBOX_MAX_BYTES', 'mailboxMaxBytes'],
  ['HIVE_DEAD_LETTER_KEEP', 'deadLetterKeep'],
  ['HIVE_MAX_SUBMISSION_WAITERS', 'maxSubmissionWaiters'],
  ['HIVE_TASK_QUEUE_MAX_MESSAGES', 'taskQueueMaxMessages'],
  ['HIVE_TASK_QUEUE_MAX_BYTES', 'taskQueueMaxBytes'],
  ['HIVE_TASK_MAX_BYTES', 'taskMaxBytes'],
  ['HIVE_ASK_TIMEOUT_MS', 'askTimeoutMs'],
  ['HIVE_MAX_MESSAGE_BYTES', 'maxMessageBytes'],
  ['HIVE_COMPRESS_THRESHOLD_BYTES', 'compressThresholdBytes'],
  ['HIVE_COMPRESS_LEVEL', 'compressLevel'],
  ['HIVE_HEARTBEAT_MS', 'heartbeatMs'],
  ['HIVE_FAILURE_AFTER_MS', 'failureAfterMs'],
  ['HIVE_JS_REPLICAS', 'jsReplicas'],
  ['HIVE_PASSIVATE_AFTER_MS', 'passivateAfterMs'],
];

/**
 * Reads options from environment variables: HIVE_CLUSTER, HIVE_NODE_ID, HIVE_NATS_URL (comma-separated),
 * HIVE_DATA_DIR, HIVE_DATABASE_URL, HIVE_LOG_LEVEL, HIVE_LOG_FORMAT, HIVE_COMPRESS_FORMAT, and the numeric
 * HIVE_* options above.
 * Values are validated by {@link resolveConfig}, which names the variable's option.
 */
export function configFromEnv(env: NodeJS.ProcessEnv = process.env): HiveOptions {
  const out: Record<string, unknown> = {};
  const str = (name: string, key: string) => {
    const v = env[name];
    if (v !== undefined && v !== '') out[key] = v;
  };
  str('HIVE_CLUSTER', 'cluster');
  str('HIVE_NODE_ID', 'nodeId');
  str('HIVE_DATA_DIR', 'dataDir');
  str('HIVE_DATABASE_URL', 'database');
  str('HIVE_LOG_LEVEL', 'logLevel');
  str('HIVE_LOG_FORMAT', 'logFormat');
  str('HIVE_COMPRESS_FORMAT', 'compressFormat');
  if (env['HIVE_NATS_URL']) out['nats'] = env['HIVE_NATS_URL'].split(',').map((s) => s.trim()).filter(Boolean);
  for (const [name, key] of intVars) {
    const v = env[name];
    if (v === undefined || v === '') continue;
    const n = Number(v);
    if (!Number.isFinite(n)) throw new ConfigError(`${key} (from ${name}) must be a number, got ${JSON.stringify(v)}`, { details: { option: key } });
    out[key] = n;
  }
  return out;
}

/** Options whose value came from the environment in the resolve step under way: errors name the variable. */
let fromEnv: ReadonlySet<string> = new Set();

function fail(option: string, message: string, value: unknown): never {
  let shown: string;
  try {
    shown = JSON.stringify(value) ?? String(value);
  } catch {
    shown = String(value);
  }
  const root = option.split('.')[0] ?? option;
  const variable = fromEnv.has(root) ? envVarOf[root] : undefined;
  throw new ConfigError(`invalid option ${option}${variable === undefined ? '' : ` (from ${variable})`}: ${message} (got ${shown})`, {
    details: { option, value: shown, ...(variable !== undefined && { variable }) },
  });
}

function int(option: string, value: unknown, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    fail(option, `must be an integer from ${min} to ${max}`, value);
  }
  return value;
}

function natsSettings(value: HiveOptions['nats']): NatsSettings | undefined {
  if (value === undefined || value === false) return undefined;
  // a string may list several servers, comma-separated (`hive start --nats a,b,c`, HIVE_NATS_URL)
  const listed = (s: string) => s.split(',').map((x) => x.trim()).filter((x) => x !== '');
  const settings: NatsSettings = typeof value === 'string' || Array.isArray(value) ? { servers: typeof value === 'string' ? listed(value) : value } : { ...value };
  if (!Array.isArray(settings.servers) || settings.servers.length === 0) fail('nats.servers', 'must list at least one server URL', Array.isArray(settings.servers) ? settings.servers.map((x) => (typeof x === 'string' ? redactUrl(x) : x)) : settings.servers);
  for (const s of settings.servers) {
    if (typeof s !== 'string' || !/^(nats|tls|ws|wss):\/\/[^\s]+$|^[^\s/:]+(:\d+)?$/.test(s)) fail('nats.servers', 'each must be a nats://host:port URL', typeof s === 'string' ? redactUrl(s) : s);
  }
  return settings;
}

/**
 * The one resolve step: defaults, then `env` (pass `{}` to ignore the environment), then `options`;
 * validates every option and throws {@link ConfigError} naming the first invalid one.
 */
export function resolveConfig(options: HiveOptions = {}, env: NodeJS.ProcessEnv = {}): HiveConfig {
  for (const key of Object.keys(options)) {
    if (!knownOptions.has(key)) {
      throw new ConfigError(`unknown option ${key}: known options are ${[...knownOptions].join(', ')}`, { details: { option: key } });
    }
  }
  const envOptions = configFromEnv(env);
  const explicit = stripUndefined(options);
  fromEnv = new Set(Object.keys(envOptions).filter((k) => !(k in explicit)));
  const merged = { ...defaultConfig, ...envOptions, ...explicit } as HiveOptions & typeof defaultConfig;
  if (!isToken(merged.cluster)) fail('cluster', 'must be 1-128 characters of A-Z a-z 0-9 _ -', merged.cluster);
  const nodeId = merged.nodeId ?? generateNodeId();
  if (!isToken(nodeId)) fail('nodeId', 'must be 1-128 characters of A-Z a-z 0-9 _ -', nodeId);
  if (typeof merged.dataDir !== 'string' || merged.dataDir.length === 0) fail('dataDir', 'must be a non-empty path', merged.dataDir);
  if (merged.database !== undefined && (typeof merged.database !== 'string' || !/^postgres(ql)?:\/\//.test(merged.database))) {
    fail('database', 'must be a postgres:// URL', typeof merged.database === 'string' ? redactUrl(merged.database) : merged.database);
  }
  if (!LogLevels.includes(merged.logLevel)) fail('logLevel', `must be one of ${LogLevels.join(', ')}`, merged.logLevel);
  if (!LogFormats.includes(merged.logFormat)) fail('logFormat', `must be one of ${LogFormats.join(', ')}`, merged.logFormat);
  if (!COMPRESSION_FORMATS.includes(merged.compressFormat)) fail('compressFormat', `must be one of ${COMPRESSION_FORMATS.join(', ')}`, merged.compressFormat);
  const config: HiveConfig = {
    cluster: merged.cluster,
    nodeId,
    nats: natsSettings(merged.nats),
    dataDir: merged.dataDir,
    database: merged.database,
    logLevel: merged.logLevel,
    logFormat: merged.logFormat,
    mailboxCapacity: int('mailboxCapacity', merged.mailboxCapacity, 1, 100_000_000),
    mailboxMaxBytes: int('mailboxMaxBytes', merged.mailboxMaxBytes, 1024, Number.MAX_SAFE_INTEGER),
    deadLetterKeep: int('deadLetterKeep', merged.deadLetterKeep, 0, 100_000),
    maxSubmissionWaiters: int('maxSubmissionWaiters', merged.maxSubmissionWaiters, 1, 10_000_000),
    taskQueueMaxMessages: int('taskQueueMaxMessages', merged.taskQueueMaxMessages, 1, Number.MAX_SAFE_INTEGER),
    taskQueueMaxBytes: int('taskQueueMaxBytes', merged.taskQueueMaxBytes, 1024, Number.MAX_SAFE_INTEGER),
    taskMaxBytes: int('taskMaxBytes', merged.taskMaxBytes, 1024, 1024 * 1024 * 1024),
    askTimeoutMs: int('askTimeoutMs', merged.askTimeoutMs, 1, 86_400_000),
    maxMessageBytes: int('maxMessageBytes', merged.maxMessageBytes, 1024, 1024 * 1024 * 1024),
    compressThresholdBytes: int('compressThresholdBytes', merged.compressThresholdBytes, 0, 1024 * 1024 * 1024),
    compressLevel: int('compressLevel', merged.compressLevel, 1, 9),
    compressFormat: merged.compressFormat,
    heartbeatMs: int('heartbeatMs', merged.heartbeatMs, 10, 3_600_000),
    failureAfterMs: int('failureAfterMs', merged.failureAfterMs, 20, 86_400_000),
    // JetStream allows at most 5 replicas
    jsReplicas: int('jsReplicas', merged.jsReplicas, 1, 5),
    passivateAfterMs: int('passivateAfterMs', merged.passivateAfterMs, 0, 30 * 86_400_000),
  };
  if (config.taskMaxBytes > config.taskQueueMaxBytes) fail('taskMaxBytes', 'must not be greater than taskQueueMaxBytes', config.taskMaxBytes);
  if (config.failureAfterMs <= config.heartbeatMs) fail('failureAfterMs', 'must be greater than heartbeatMs', config.failureAfterMs);
  return config;
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  const out: Partial<T> = {};
  for (const [k, v] of Object.entries(o)) if (v !== undefined) (out as Record<string, unknown>)[k] = v;
  return out;
}
