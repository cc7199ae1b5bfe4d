// Child process of bench/stream.ts: the producing side of both systems, alone in its process. Run with
// `node --import tsx bench/support/streamServer.ts --url=<nats url> --cluster=<unique name>`. Prints
// `{"type":"ready",...}` once both produce, then serves until stdin closes or SIGTERM/SIGINT.
//   Hive   a Hive node on NATS with actor `gen`: `generate { n, size }` is answered with n chunks of `size`
//          characters through `await stream(event, chunk)` (the credit window paces it), then `end(event)`.
//   raw    a raw @nats-io/transport-node connection subscribed to `bench.<cluster>.stream`: a request
//          `{ "n", "size" }` is answered by publishing n payloads of `size` bytes to its reply subject, then an
//          empty payload (the end marker), as fast as the client takes them (no flow control).
import { connect } from '@nats-io/transport-node';
import { setup } from 'xstate';
import { echoMachine } from '../../actors/echo.js';
import { Hive } from '../../cluster/Hive.js';
import { hiveInternals } from '../../cluster/internal.js';
import type { HiveEvent } from '../../protocols/envelope.js';
import { silentLogger } from '../../runtime/logger.js';
import { end, stream } from '../../runtime/streams/streamRegistry.js';

function arg(name: string): string | undefined {
  const hit = process.argv.find((a) => a.startsWith(`--${name}=`));
  return hit === undefined ? undefined : hit.slice(name.length + 3);
}

async function produce(event: HiveEvent): Promise<void> {
  const n = Number(event['n']);
  const chunk = 'x'.repeat(Number(event['size']));
  for (let i = 0; i < n; i++) if (!(await stream(event, chunk))) return;
  end(event);
}

const generator = setup({ types: { events: {} as HiveEvent } }).createMachine({
  id: 'gen',
  on: { generate: { actions: ({ event }) => void produce(event) } },
});

async function main(): Promise<void> {
  const url = arg('url') ?? 'nats://127.0.0.1:4222';
  const cluster = arg('cluster');
  if (cluster === undefined) throw new Error('--cluster=<name> is required');
  const hive = await Hive.start({ nats: url, cluster, nodeId: 'producer', env: false, logger: silentLogger() });
  await hive.spawn(generator, { id: 'gen' });
  await hive.spawn(echoMachine, { id: 'echo' }); // the plain ask round trip, for context

  await hiveInternals(hive).transport.flush();
  const nc = await connect({ servers: url, name: `bench-stream-raw-${process.pid}` });
  const empty = new Uint8Array(0);
  nc.subscribe(`bench.${cluster}.stream`, {
    callback: (err, msg) => {
      if (err !== null || msg.reply === undefined) return;
      const { n, size } = JSON.parse(new TextDecoder().decode(msg.data)) as { n: number; size: number };
      const chunk = new Uint8Array(size).fill(120);
      for (let i = 0; i < n; i++) nc.publish(msg.reply, chunk);
      nc.publish(msg.reply, empty);
    },
  });
  await nc.flush();
  process.stdout.write(`${JSON.stringify({ type: 'ready', pid: process.pid })}\n`);
  let stopping = false;
  const stop = async (): Promise<void> => {
    if (stopping) return;
    stopping = true;
    await Promise.allSettled([hive.stop(), nc.close()]);
    process.exit(0);
  };
  process.stdin.on('end', () => void stop());
  process.stdin.resume();
  process.on('SIGTERM', () => void stop());
  process.on('SIGINT', () => void stop());
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
