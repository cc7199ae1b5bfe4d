// Child process of bench/ask.ts: the answering side of one request/reply system, alone in its process.
// Run with `node --import tsx bench/support/askServer.ts --mode=<hive|raw|moleculer> --url=<nats url>
// --cluster=<unique name> [--id=<actor id>] [--subject=<subject>]`. Prints `{"type":"ready",...}` on stdout
// once it answers, then serves until stdin closes or it gets SIGTERM/SIGINT, and exits.
//   hive       a Hive node on NATS (`Hive.start({ nats, cluster })`) with the built-in echo actor (actors/echo.ts)
//              spawned as `--id`: it answers every ask with the event it received; the same machine is
//              registered as kind `echo` (virtual actors activate here).
//   raw        a raw @nats-io/transport-node connection subscribed to `--subject` with a callback that answers
//              every request with its own payload (`msg.respond(msg.data)`): the limit.
//   moleculer  a Moleculer ServiceBroker (NATS transporter over the `nats` v2 client, default JSON
//              serializer, namespace = cluster) with a service `echo` whose action `echo` returns its params.
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { ServiceBroker, type Context } from 'moleculer';
import { echoMachine } from '../../actors/echo.js';
import { Hive } from '../../cluster/Hive.js';
import { silentLogger } from '../../runtime/logger.js';
import { hiveInternals } from '../../cluster/internal.js';

function arg(name: string): string | undefined {
  const hit = process.argv.find((a) => a.startsWith(`--${name}=`));
  return hit === undefined ? undefined : hit.slice(name.length + 3);
}

async function main(): Promise<void> {
  const mode = arg('mode');
  const url = arg('url') ?? 'nats://127.0.0.1:4222';
  const cluster = arg('cluster');
  if (cluster === undefined) throw new Error('--cluster=<name> is required');
  let stop: () => Promise<void>;
  switch (mode) {
    case 'hive': {
      const hive = await Hive.start({ nats: url, cluster, env: false, logger: silentLogger() });
      await hive.spawn(echoMachine, { id: arg('id') ?? 'echo-1' });
      await hive.register('echo', echoMachine); // the virtual actor row: echo/bench activates here
      await hiveInternals(hive).transport.flush();
      stop = () => hive.stop();
      break;
    }
    case 'raw': {
      const nc: NatsConnection = await connect({ servers: url, name: `bench-ask-raw-${process.pid}` });
      nc.subscribe(arg('subject') ?? `bench.${cluster}.raw`, {
        callback: (err, msg) => {
          if (err === null) msg.respond(msg.data);
        },
      });
      await nc.flush();
      stop = () => nc.close();
      break;
    }
    case 'moleculer': {
      const broker = new ServiceBroker({ nodeID: `bench-ask-server-${process.pid}`, namespace: cluster, transporter: { type: 'NATS', options: { url } }, logger: false });
      broker.createService({ name: 'echo', actions: { echo: (ctx: Context<unknown>) => ctx.params } });
      await broker.start();
      stop = () => broker.stop();
      break;
    }
    default:
      throw new Error('--mode=hive, --mode=raw or --mode=moleculer');
  }
  process.stdout.write(`${JSON.stringify({ type: 'ready', mode, pid: process.pid })}\n`);
  await new Promise<void>((resolve) => {
    process.stdin.on('end', resolve);
    process.stdin.on('close', resolve);
    process.on('SIGTERM', resolve);
    process.on('SIGINT', resolve);
    process.stdin.resume();
  });
  await stop();
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
