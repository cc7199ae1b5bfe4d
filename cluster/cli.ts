// The `hive` command line: `hive start` runs a node; the other commands talk to a running cluster over NATS
// like any client. Usage errors name the flag and exit with code 2.
import { Command, CommanderError, Option } from 'commander';
import { HiveError } from '../protocols/errors.js';
import { runStart } from './commands/start.js';
import { runAsk, runPools, runSend, runSpawn, runStatus, runSubmit } from './commands/client.js';
import { runDead, runResult } from './commands/tasks.js';
import { runIngest, runSearch } from './commands/memory.js';
import { runAuthInit } from './commands/auth.js';

/** Exit codes: 0 ok, 1 the operation failed, 2 usage error. */
export const EXIT_USAGE = 2;

/** Where commands write; injectable for tests. */
export interface CliIO {
  out: (text: string) => void;
  err: (text: string) => void;
}

const defaultIO: CliIO = {
  out: (t) => process.stdout.write(t),
  err: (t) => process.stderr.write(t),
};

function clusterOptions(cmd: Command): Command {
  return cmd
    .addOption(new Option('--cluster <name>', 'cluster name').env('HIVE_CLUSTER').default('hive'))
    .addOption(new Option('--nats <url>', 'NATS server URL(s), comma-separated').env('HIVE_NATS_URL'));
}

/** A positive integer option (at most `max`); the error names the flag, and the variable `envVar` it may come from. */
function intArg(flag: string, envVar?: string, max?: number) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n <= 0 || (max !== undefined && n > max)) {
      const source = envVar !== undefined && process.env[envVar] === value ? ` (from ${envVar})` : '';
      const what = max === undefined ? 'a positive integer' : `an integer from 1 to ${max}`;
      throw new CommanderError(EXIT_USAGE, 'hive.invalidArgument', `error: option '${flag}'${source} must be ${what}, got '${value}'`);
    }
    return n;
  };
}

/** `--timeout <ms>` of a request that is an ask: HIVE_ASK_TIMEOUT_MS is its default, as on nodes. */
function askTimeout(description: string): Option {
  return new Option('--timeout <ms>', description).env('HIVE_ASK_TIMEOUT_MS').argParser(intArg('--timeout', 'HIVE_ASK_TIMEOUT_MS')).default(5000);
}

/** Builds the command tree (exported for tests and for `--help` output). */
export function buildProgram(io: CliIO = defaultIO, setExit: (code: number) => void = () => undefined): Command {
  const program = new Command('hive')
    .description('Hive: a distributed actor runtime for multi-agent systems (xstate actors over NATS)')
    .version(packageVersion(), '-V, --version')
    .showHelpAfterError('(run with --help for usage)')
    .configureOutput({ writeOut: io.out, writeErr: io.err })
    .exitOverride();

  clusterOptions(program.command('start').description('start a node of the cluster'))
    .addOption(new Option('--node-id <id>', 'this node id (default: host name + random suffix)').env('HIVE_NODE_ID'))
    .addOption(new Option('--data-dir <dir>', 'folder for node data (embedded database, nats-server store)').env('HIVE_DATA_DIR').default('.hive'))
    .addOption(new Option('--log-level <level>', 'fatal, error, warn, info, debug, trace or silent').env('HIVE_LOG_LEVEL').default('info'))
    .addOption(new Option('--log-format <format>', 'log lines: pretty (human-readable), json, or auto (pretty on a terminal, JSON otherwise)').choices(['auto', 'pretty', 'json']).env('HIVE_LOG_FORMAT'))
    .addOption(new Option('--database <url>', 'PostgreSQL URL for memory (default: embedded PGlite under --data-dir)').env('HIVE_DATABASE_URL'))
    .addOption(new Option('--replicas <n>', 'replicas of the JetStream streams and KV buckets this node creates (1-5; 3 on a three-server NATS cluster)').env('HIVE_JS_REPLICAS').argParser(intArg('--replicas', 'HIVE_JS_REPLICAS', 5)))
    .addOption(new Option('--load <module...>', 'a module exporting a default setup function (hive) => void (repeatable; .js .mjs .ts)'))
    .addOption(new Option('--no-config', 'do not load hive.config.{ts,js,mjs} from the working folder'))
    .addOption(new Option('--no-memory', 'run without semantic memory (no embedded database)'))
    .addOption(new Option('--embedder-url <url>', 'OpenAI-compatible embeddings endpoint, e.g. http://127.0.0.1:11434/v1 (key: env HIVE_EMBEDDER_API_KEY)').env('HIVE_EMBEDDER_URL'))
    .addOption(new Option('--embedder-model <name>', 'embedding model name (with --embedder-url)').env('HIVE_EMBEDDER_MODEL'))
    .addOption(new Option('--embedder-dims <n>', "the model's dimension, also the memory store's (with --embedder-url)").env('HIVE_EMBEDDER_DIMS'))
    .addOption(new Option('--http <host:port>', 'HTTP endpoint: dashboard, /metrics, /healthz, /readyz, /api/cluster (env HIVE_HTTP; default 127.0.0.1:9430, the next free port when taken; port 0: any free port)'))
    .addOption(new Option('--no-http', 'no HTTP endpoint'))
    .addOption(new Option('--task-queue-max-messages <n>', 'messages the durable task queue holds; past it submissions get OVERLOADED (env HIVE_TASK_QUEUE_MAX_MESSAGES; default 1000000)').argParser(intArg('--task-queue-max-messages')))
    .addOption(new Option('--task-queue-max-bytes <n>', 'bytes the durable task queue holds; past it OVERLOADED (env HIVE_TASK_QUEUE_MAX_BYTES; default 1 GiB)').argParser(intArg('--task-queue-max-bytes')))
    .addOption(new Option('--task-max-bytes <n>', 'largest durable task; past it TOO_LARGE (env HIVE_TASK_MAX_BYTES; default 8 MiB)').argParser(intArg('--task-max-bytes')))
    .action(async (opts: Record<string, unknown>) => setExit(await runStart(opts, io)));

  clusterOptions(program.command('status').description('list live nodes and their actors'))
    .option('--json', 'print JSON for scripts')
    .addOption(new Option('--wait <ms>', 'longest wait for node answers (it stops once they stop coming)').argParser(intArg('--wait')).default(2000))
    .action(async (opts: Record<string, unknown>) => setExit(await runStatus(opts, io)));

  clusterOptions(program.command('spawn').description('spawn an actor of a registered kind').argument('<kind>', 'kind name (built in: echo, counter)'))
    .requiredOption('--id <id>', 'actor id')
    .option('--input <json>', 'input for the machine, as JSON')
    .option('--node <id>', 'the node to spawn on (default: the least loaded)')
    .addOption(askTimeout('how long to wait'))
    .action(async (kind: string, opts: Record<string, unknown>) => setExit(await runSpawn(kind, opts, io)));

  clusterOptions(program.command('send').description('send an event to an actor without waiting (exit 1 when nothing hosts it)').argument('<id>', 'actor id, or <kind>/<key>').argument('<json>', 'the event, e.g. \'{"type":"inc"}\''))
    .addOption(askTimeout('how long to look for the actor'))
    .action(async (id: string, json: string, opts: Record<string, unknown>) => setExit(await runSend(id, json, opts, io)));

  clusterOptions(program.command('ask').description("send an event to an actor and print its reply").argument('<id>', 'actor id').argument('<json>', 'the event, e.g. \'{"type":"ping"}\''))
    .addOption(askTimeout('how long to wait for the reply'))
    .action(async (id: string, json: string, opts: Record<string, unknown>) => setExit(await runAsk(id, json, opts, io)));

  clusterOptions(program.command('submit').description('submit a task to a pool').argument('<pool>', 'pool name').argument('<json>', 'the task, as JSON'))
    .option('--key <key>', 'routing key (consistent hashing keeps a key on one agent)')
    .option('--id <id>', 'task id (a task id runs once)')
    .option('--wait', 'wait for the task and print its result')
    .option('--json', 'with --wait, print the whole outcome (id, attempts, agent)')
    .addOption(new Option('--timeout <ms>', 'task deadline').argParser(intArg('--timeout')).default(60_000))
    .action(async (pool: string, json: string, opts: Record<string, unknown>) => setExit(await runSubmit(pool, json, opts, io)));

  clusterOptions(program.command('pools').description('pools: size, busy, queued, done, failed, dead-lettered'))
    .option('--json', 'print JSON for scripts')
    .addOption(new Option('--wait <ms>', 'longest wait for node answers (it stops once they stop coming)').argParser(intArg('--wait')).default(2000))
    .action(async (opts: Record<string, unknown>) => setExit(await runPools(opts, io)));

  clusterOptions(program.command('result').description('the outcome of a task: its result, or its error with attempts').argument('<pool>', 'pool name').argument('<task-id>', 'the id `hive submit` printed'))
    .option('--json', 'print the whole outcome (id, attempts, agent, error)')
    .addOption(askTimeout('how long to wait for the result store'))
    .action(async (pool: string, id: string, opts: Record<string, unknown>) => setExit(await runResult(pool, id, opts, io)));

  clusterOptions(program.command('dead').description("list a pool's dead-lettered tasks; --replay submits them again").argument('<pool>', 'pool name'))
    .option('--replay', 'submit every listed task again (new task ids) and remove it from the dead letters')
    .option('--json', 'print JSON for scripts')
    .addOption(new Option('--limit <n>', 'most tasks to list').argParser(intArg('--limit')).default(100))
    .addOption(askTimeout('how long to wait for JetStream'))
    .action(async (pool: string, opts: Record<string, unknown>) => setExit(await runDead(pool, opts, io)));

  clusterOptions(program.command('ingest').description('store the documents of a JSONL file in the cluster memory').argument('<file>', 'JSONL: one {"content":...,"id"?,"namespace"?,"metadata"?,"embedding"?} per line'))
    .addOption(new Option('--namespace <ns>', 'namespace of lines that do not name one').default('default'))
    .addOption(new Option('--batch <n>', 'documents per request').argParser(intArg('--batch')).default(1000))
    .option('--no-wait', 'return once the documents are durably queued, not once stored')
    .option('--json', 'print the summary as JSON')
    .addOption(new Option('--timeout <ms>', 'how long to wait for each batch').argParser(intArg('--timeout')).default(600_000))
    .action(async (file: string, opts: Record<string, unknown>) => setExit(await runIngest(file, opts, io)));

  clusterOptions(program.command('search').description('search the cluster memory by text').argument('<text>', 'what to look for'))
    .addOption(new Option('-k <n>', 'number of results').argParser(intArg('-k')).default(10))
    .addOption(new Option('--namespace <ns>', 'namespace to search').default('default'))
    .option('--filter <json>', 'only documents whose metadata contains this JSON object')
    .option('--json', 'print JSON for scripts')
    .addOption(new Option('--timeout <ms>', 'how long to wait').argParser(intArg('--timeout')).default(60_000))
    .action(async (text: string, opts: Record<string, unknown>) => setExit(await runSearch(text, opts, io)));

  const auth = program.command('auth').description('roles on the bus: NATS users and permissions for node, client and admin');
  auth
    .command('init')
    .description('write a nats-server config with users node, admin and clients, and one env file per user')
    .addOption(new Option('--cluster <name>', 'cluster name').env('HIVE_CLUSTER').default('hive'))
    .requiredOption('--out <dir>', 'folder to write nats-server.conf and <user>.env into')
    .option('--client <name[=ns,...]>', 'a client user (repeat for more); "=ns1,ns2" limits its memory to those namespaces', (v: string, prev: string[] | undefined) => [...(prev ?? []), v])
    .option('--nats <url>', 'server URL to write into the env files')
    .option('--force', 'overwrite existing files')
    .action((opts: Record<string, unknown>) => setExit(runAuthInit(opts, io)));

  return program;
}

/** Runs the CLI; resolves to the process exit code. */
export async function main(argv: string[], io: CliIO = defaultIO): Promise<number> {
  let code = 0;
  const program = buildProgram(io, (c) => (code = c));
  try {
    await program.parseAsync(argv);
    return code;
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help') return 0;
      if (err.code === 'hive.invalidArgument') io.err(`${err.message}\n`);
      return EXIT_USAGE;
    }
    if (err instanceof HiveError) {
      io.err(`hive: ${err.code}: ${err.message}\n`);
      return err.code === 'INVALID_CONFIG' || err.code === 'INVALID_ID' || err.code === 'INVALID_ARGUMENT' ? EXIT_USAGE : 1;
    }
    io.err(`hive: ${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  }
}

function packageVersion(): string {
  return process.env['npm_package_version'] ?? '0.1.0';
}
