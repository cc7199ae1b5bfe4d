// `hive start`: run a node. Validates the configuration, locks the data folder (one node per folder), checks a
// `--database` (a configuration that can never work fails at once, naming the fix; an unreachable server
// starts the node degraded), finds NATS (the given URL; else a server on 127.0.0.1:4222; else a nats-server
// from PATH started as a child; else the in-process transport, said clearly), registers the built-in kinds,
// loads the user's setup modules, prints a banner listing what it loaded, and on SIGINT/SIGTERM stops cleanly
// with exit code 0.
import { counterMachine } from '../../actors/counter.js';
import { echoMachine } from '../../actors/echo.js';
import { actorSubject, virtualSubject } from '../../protocols/subjects.js';
import { isAbsolute, relative, resolve, sep } from 'node:path';
import { resolveConfig, type LogFormat, type LogLevel } from '../../runtime/config.js';
import { DataDirLock } from '../DataDirLock.js';
import { checkDatabase, type DatabaseCheck } from '../databaseCheck.js';
import type { CliIO } from '../cli.js';
import { Hive } from '../Hive.js';
import { findConfigFile, loadSetupModule } from '../loadModules.js';
import { LOCAL_NATS_URL, startChildNats, tcpOpen, type ChildNats } from '../localNats.js';
import { describeMemory, memoryOptionsFromEnv } from '../NodeMemory.js';
import { describeServers } from '../natsOptions.js';
import { memorySubject } from '../../actors/memory/memoryProtocol.js';
import { ConfigError } from '../../protocols/errors.js';
import { resolveHttpAddress } from '../ops/httpOptions.js';
import { NodeHttp } from '../ops/NodeHttp.js';
import { installProcessGuard } from '../../runtime/processGuard.js';
import { startTelemetry, type Telemetry } from '../ops/telemetry.js';
import { redactUrl } from '../../runtime/redact.js';
import { hiveInternals } from '../internal.js';

/** Options of `hive start` as commander parses them. */
export interface StartOptions {
  cluster?: string;
  nats?: string;
  nodeId?: string;
  dataDir?: string;
  logLevel?: string;
  logFormat?: string;
  database?: string;
  /** Replicas of the JetStream streams and KV buckets (--replicas, HIVE_JS_REPLICAS). */
  replicas?: number;
  load?: string[];
  config?: boolean;
  /** false with --no-memory: the node runs without semantic memory. */
  memory?: boolean;
  /** `host:port` of the HTTP endpoint; false with --no-http. */
  http?: string | boolean;
  embedderUrl?: string;
  embedderModel?: string;
  embedderDims?: string;
  taskQueueMaxMessages?: number;
  taskQueueMaxBytes?: number;
  taskMaxBytes?: number;
}

/** Runs a node until SIGINT/SIGTERM; resolves to the exit code. */
export async function runStart(raw: Record<string, unknown>, io: CliIO, signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM']): Promise<number> {
  const opts = raw as StartOptions;
  const httpAddress = resolveHttpAddress(opts.http, process.env);
  const limits = {
    ...(opts.taskQueueMaxMessages !== undefined && { taskQueueMaxMessages: opts.taskQueueMaxMessages }),
    ...(opts.taskQueueMaxBytes !== undefined && { taskQueueMaxBytes: opts.taskQueueMaxBytes }),
    ...(opts.taskMaxBytes !== undefined && { taskMaxBytes: opts.taskMaxBytes }),
  };
  // the whole configuration is validated before anything starts (errors name the option and its HIVE_* variable)
  const config = resolveConfig(
    {
      ...(opts.cluster !== undefined && { cluster: opts.cluster }),
      ...(opts.nodeId !== undefined && { nodeId: opts.nodeId }),
      ...(opts.logLevel !== undefined && { logLevel: opts.logLevel as LogLevel }),
      ...(opts.logFormat !== undefined && { logFormat: opts.logFormat as LogFormat }),
      ...(opts.database !== undefined && { database: opts.database }),
      ...(opts.dataDir !== undefined && { dataDir: opts.dataDir }),
      ...(opts.replicas !== undefined && { jsReplicas: opts.replicas }),
      ...limits,
    },
    process.env,
  );
  const memoryOptions = memoryOptionsFromEnv({
    ...process.env,
    ...(opts.embedderUrl !== undefined && { HIVE_EMBEDDER_URL: opts.embedderUrl }),
    ...(opts.embedderModel !== undefined && { HIVE_EMBEDDER_MODEL: opts.embedderModel }),
    ...(opts.embedderDims !== undefined && { HIVE_EMBEDDER_DIMS: opts.embedderDims }),
  });
  const dataDir = config.dataDir;
  const lock = DataDirLock.acquire(dataDir, config.nodeId);
  let database: DatabaseCheck | undefined;
  if (opts.memory !== false && config.database !== undefined) {
    try {
      database = await checkDatabase(config.database, memoryOptions.schema ?? 'hive');
    } catch (err) {
      lock.release();
      throw err;
    }
  }
  let natsUrl = opts.nats;
  let child: ChildNats | undefined;
  let natsNote = '';
  if (natsUrl === undefined) {
    if (await tcpOpen('127.0.0.1', 4222)) {
      natsUrl = LOCAL_NATS_URL;
      natsNote = ' (found running)';
    } else {
      child = await startChildNats(dataDir);
      if (child !== undefined) {
        natsUrl = child.url;
        natsNote = ' (nats-server started by this node, JetStream on)';
      }
    }
  }
  let hive: Hive;
  try {
    hive = await Hive.start({
      env: process.env,
      ...(opts.cluster !== undefined && { cluster: opts.cluster }),
      nodeId: config.nodeId,
      ...(opts.logLevel !== undefined && { logLevel: opts.logLevel as LogLevel }),
      ...(opts.logFormat !== undefined && { logFormat: opts.logFormat as LogFormat }),
      ...(opts.database !== undefined && { database: opts.database }),
      dataDir,
      jsReplicas: config.jsReplicas,
      ...limits,
      nats: natsUrl ?? false,
    });
  } catch (err) {
    await child?.stop();
    lock.release();
    throw err;
  }
  let http: NodeHttp | undefined;
  // the node keeps serving through a bug that leaves a promise without a handler: log it, count it
  const unguard = installProcessGuard(hive.logger, hive.metrics);
  let telemetry: Telemetry | undefined;
  const stopAll = async () => {
    try {
      await http?.close();
      await hive.stop();
      unguard();
      await telemetry?.shutdown().catch(() => undefined);
      await child?.stop();
    } finally {
      lock.release();
    }
  };
  const loadFlags = opts.load ?? [];
  const configFile = opts.config !== false ? findConfigFile(process.cwd()) : undefined;
  try {
    await hive.register('echo', echoMachine);
    await hive.register('counter', counterMachine);
    for (const m of [...loadFlags, ...(configFile === undefined ? [] : [configFile])]) await loadSetupModule(hive, m);
  } catch (err) {
    await stopAll();
    throw err;
  }

  const c = hive.cluster;
  const exit = waitForSignals(signals, io, hive, stopAll);
  // Memory is started before the banner so that its subject answers as soon as the node says it started; the
  // store itself opens in the background (the first open of a new PGlite folder takes seconds) and requests
  // that arrive meanwhile are answered once it is open. The signal handlers come first: a node must stop
  // cleanly even while it opens.
  if (opts.memory !== false) {
    try {
      await startMemory(hive, memoryOptions, io);
    } catch (err) {
      await stopAll();
      throw err;
    }
  }
  try {
    telemetry = await startTelemetry(process.env, { cluster: hive.cluster, nodeId: hive.nodeId });
  } catch (err) {
    hive.logger.warn({ err }, 'OpenTelemetry export could not start: spans are not exported');
  }
  if (httpAddress !== false) {
    try {
      http = await NodeHttp.start(hive, httpAddress);
    } catch (err) {
      await stopAll();
      throw new ConfigError(`cannot serve HTTP on ${httpAddress.host}:${httpAddress.port}: ${err instanceof Error ? err.message : String(err)} (choose another with --http <host:port>, or --no-http)`, {
        cause: err,
        details: { option: '--http' },
      });
    }
  }
  // everything this node serves is subscribed on the server before it says it started
  if (hiveInternals(hive).transport.connected) await hiveInternals(hive).transport.flush().catch(() => undefined);
  const cli = cliCommand();
  const inCluster = c === 'hive' ? '' : ` --cluster ${c}`;
  const pools = hiveInternals(hive).pools.names();
  const lines = [
    `hive node ${hive.nodeId} started`,
    `  cluster    ${c}`,
    natsUrl !== undefined
      ? `  nats       ${describeServers(natsUrl)}${natsNote}`
      : `  nats       none: in-process transport only. Other processes CANNOT reach this node (start nats-server or pass --nats)`,
    ...(config.jsReplicas > 1 ? [`  replicas   ${config.jsReplicas} per JetStream stream and KV bucket (--replicas)`] : []),
    `  data dir   ${resolve(dataDir)} (locked by this node)`,
    `  loaded     ${loadFlags.length === 0 ? 'no --load modules' : loadFlags.map((m) => resolve(m)).join(', ')}`,
    `  config     ${opts.config === false ? 'not read (--no-config)' : (configFile ?? `no hive.config.{ts,mjs,js} in ${process.cwd()}`)}`,
    `  kinds      ${hiveInternals(hive).virtual.registeredKinds().join(', ')}`,
    `  pools      ${pools.length === 0 ? 'none hosted here' : pools.join(', ')}`,
    ...(telemetry === undefined ? [] : [`  tracing    OTLP to ${redactUrl(telemetry.endpoint)}`]),
    http === undefined ? '  dashboard  off (--no-http)' : `  dashboard  ${http.url}/   (metrics ${http.url}/metrics, health /healthz /readyz, cluster /api/cluster)`,
    `  send to    ${actorSubject(c, '<actor-id>')}   (virtual: ${virtualSubject(c, '<kind>', '<key>')})`,
    `  try        ${cli} ask echo/hello '{"type":"ping"}'${inCluster}   (a virtual echo actor: answers {"type":"pong"})`,
    ...(opts.memory === false
      ? ['  memory     off (--no-memory)']
      : [
          `  memory     ${describeMemory(hive.config, memoryOptions)} ${
            database?.state === 'unreachable'
              ? `DEGRADED: the database does not answer (${database.reason}); memory requests fail until it does, then it opens by itself`
              : '(opening in the background)'
          }`,
          `  memory at  ${memorySubject(c)}   (${cli} ingest <file.jsonl>${inCluster}, ${cli} search "<text>"${inCluster})`,
        ]),
    '',
  ];
  io.out(lines.join('\n'));
  return exit;
}

/**
 * How the user ran this CLI, for the banner's examples: `node bin/hive.js` in a clone, `npx hive` from a
 * project's node_modules, `hive` when installed on PATH.
 */
export function cliCommand(script = process.argv[1], cwd = process.cwd()): string {
  if (script === undefined) return 'hive';
  if (script.includes(`${sep}node_modules${sep}`)) return 'npx hive';
  if (!script.endsWith('.js')) return 'hive';
  const rel = relative(cwd, script);
  return `node ${rel.startsWith('..') || isAbsolute(rel) ? script : rel}`;
}

/** Opens memory in the background and says so when it is ready. */
async function startMemory(hive: Hive, memoryOptions: ReturnType<typeof memoryOptionsFromEnv>, io: CliIO): Promise<void> {
  const memory = await hive.startMemory(memoryOptions);
  const opened = Date.now();
  const off = memory.onState((state) => {
    if (state === 'ready') {
      off();
      io.out(`memory ready (${memory.description}, ${((Date.now() - opened) / 1000).toFixed(1)} s)\n`);
    }
  });
}

/** Stops the node on SIGINT/SIGTERM (a second signal exits at once); resolves to the exit code. */
function waitForSignals(signals: NodeJS.Signals[], io: CliIO, hive: Hive, stopAll: () => Promise<void>): Promise<number> {
  return new Promise<number>((resolveExit) => {
    let stopping = false;
    const onSignal = (signal: NodeJS.Signals) => {
      if (stopping) {
        io.err(`hive: ${signal} again, exiting now\n`);
        process.exit(1);
      }
      stopping = true;
      hive.logger.info({ signal }, 'stopping: finishing in-flight work and draining');
      stopAll().then(
        () => {
          for (const s of signals) process.off(s, onSignal);
          io.out(`hive node ${hive.nodeId} stopped\n`);
          resolveExit(0);
        },
        (err: unknown) => {
          io.err(`hive: error while stopping: ${err instanceof Error ? err.message : String(err)}\n`);
          resolveExit(1);
        },
      );
    };
    for (const s of signals) process.on(s, onSignal);
  });
}
