// `hive start`: run a node. Finds NATS (the given URL; else a server on 127.0.0.1:4222; else a nats-server
// from PATH started as a child; else the in-process transport, said clearly), registers the built-in kinds,
// loads the user's setup modules, prints a banner, and on SIGINT/SIGTERM stops cleanly with exit code 0.
import { counterMachine } from '../../actors/counter.js';
import { echoMachine } from '../../actors/echo.js';
import { actorSubject, virtualSubject } from '../../protocols/subjects.js';
import type { LogLevel } from '../../runtime/config.js';
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

/** Options of `hive start` as commander parses them. */
export interface StartOptions {
  cluster?: string;
  nats?: string;
  nodeId?: string;
  dataDir?: string;
  logLevel?: string;
  database?: string;
  load?: string[];
  config?: boolean;
  /** false with --no-memory: the node runs without semantic memory. */
  memory?: boolean;
  /** `host:port` of the HTTP endpoint; false with --no-http. */
  http?: string | boolean;
}

/** Runs a node until SIGINT/SIGTERM; resolves to the exit code. */
export async function runStart(raw: Record<string, unknown>, io: CliIO, signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM']): Promise<number> {
  const opts = raw as StartOptions;
  const httpAddress = resolveHttpAddress(opts.http, process.env);
  const dataDir = opts.dataDir ?? '.hive';
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
      ...(opts.nodeId !== undefined && { nodeId: opts.nodeId }),
      ...(opts.logLevel !== undefined && { logLevel: opts.logLevel as LogLevel }),
      ...(opts.database !== undefined && { database: opts.database }),
      dataDir,
      nats: natsUrl ?? false,
    });
  } catch (err) {
    await child?.stop();
    throw err;
  }
  let http: NodeHttp | undefined;
  const stopAll = async () => {
    await http?.close();
    await hive.stop();
    await child?.stop();
  };
  try {
    await hive.register('echo', echoMachine);
    await hive.register('counter', counterMachine);
    const modules = [...(opts.load ?? [])];
    if (opts.config !== false) {
      const found = findConfigFile(process.cwd());
      if (found !== undefined) modules.push(found);
    }
    for (const m of modules) await loadSetupModule(hive, m);
  } catch (err) {
    await stopAll();
    throw err;
  }

  const c = hive.cluster;
  let memoryOptions: ReturnType<typeof memoryOptionsFromEnv>;
  try {
    memoryOptions = memoryOptionsFromEnv(process.env);
  } catch (err) {
    await stopAll();
    throw err;
  }
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
  if (hive.transport.connected) await hive.transport.flush().catch(() => undefined);
  const lines = [
    `hive node ${hive.nodeId} started`,
    `  cluster    ${c}`,
    natsUrl !== undefined
      ? `  nats       ${describeServers(natsUrl)}${natsNote}`
      : `  nats       none: in-process transport only. Other processes CANNOT reach this node (start nats-server or pass --nats)`,
    `  kinds      ${hive.virtual.registeredKinds().join(', ')}`,
    http === undefined ? '  dashboard  off (--no-http)' : `  dashboard  ${http.url}/   (metrics ${http.url}/metrics, health /healthz /readyz, cluster /api/cluster)`,
    `  send to    ${actorSubject(c, '<actor-id>')}   (virtual: ${virtualSubject(c, '<kind>', '<key>')})`,
    `  try        hive spawn echo --id e1${c === 'hive' ? '' : ` --cluster ${c}`} && hive ask e1 '{"type":"ping"}'${c === 'hive' ? '' : ` --cluster ${c}`}`,
    ...(opts.memory === false
      ? ['  memory     off (--no-memory)']
      : [`  memory     ${describeMemory(hive.config, memoryOptions)} (opening in the background)`, `  memory at  ${memorySubject(c)}   (hive ingest <file.jsonl>, hive search "<text>")`]),
    '',
  ];
  io.out(lines.join('\n'));
  return exit;
}

/** Opens memory in the background and says so when it is ready. */
async function startMemory(hive: Hive, memoryOptions: ReturnType<typeof memoryOptionsFromEnv>, io: CliIO): Promise<void> {
  const memory = await hive.startMemory(memoryOptions);
  const opened = Date.now();
  const off = memory.service.onState((state) => {
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
