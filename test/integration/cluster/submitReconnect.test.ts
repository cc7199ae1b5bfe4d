// A task's outcome published while its submitter is disconnected from NATS is lost on the wire (plain NATS,
// no one subscribed). Found by `npm run bench -- chaos`: after a nats-server restart, submissions in flight
// hung until their timeout although their results were stored. The submitter now reads the result store for
// every task it waits for when its connection comes back.
//
// The fault is made deterministic with reconnect waits: the submitting node reconnects 4 s after the server
// comes back, the running node at once; the agent finishes only once the running node has reconnected and
// the submitter has not, and the test checks that the submitter was disconnected when the outcome was published.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Hive } from '../../../cluster/Hive.js';
import { NatsTransport } from '../../../cluster/NatsTransport.js';
import { silentLogger } from '../../../runtime/logger.js';
import type { TransportStatus } from '../../../runtime/Transport.js';
import { until } from '../../support/natsNodes.js';
import { natsBinaryAvailable, startNatsServer, uniqueName, type OwnNatsServer } from '../../support/services.js';

describe.skipIf(!natsBinaryAvailable())('a submitter that reconnects after its task finished', () => {
  let server: OwnNatsServer;
  const cluster = uniqueName('subrec');
  const hives: Hive[] = [];

  beforeAll(async () => {
    server = await startNatsServer();
  });

  afterAll(async () => {
    await Promise.all(hives.map((h) => h.stop().catch(() => undefined)));
    await server?.stop();
  });

  it('gets the outcome from the result store instead of timing out', { timeout: 60_000 }, async () => {
    const runnerTransport = await NatsTransport.connect({ servers: server.url, reconnectTimeWaitMs: 50, reconnectJitterMs: 0 });
    const submitterTransport = await NatsTransport.connect({ servers: server.url, reconnectTimeWaitMs: 4_000, reconnectJitterMs: 0 });
    const runner = await Hive.start({ cluster, nodeId: 'runner', transport: runnerTransport, env: false, logger: silentLogger(), heartbeatMs: 200, failureAfterMs: 10_000 });
    hives.push(runner);
    const submitter = await Hive.start({ cluster, nodeId: 'submitter', transport: submitterTransport, env: false, logger: silentLogger(), heartbeatMs: 200, failureAfterMs: 10_000 });
    hives.push(submitter);
    const submitterStatus: TransportStatus[] = [];
    submitterTransport.onStatus((s) => submitterStatus.push(s));
    const runnerStatus: TransportStatus[] = [];
    runnerTransport.onStatus((s) => runnerStatus.push(s));

    let started = false;
    let release: () => void = () => undefined;
    const gate = new Promise<void>((r) => (release = r));
    let submitterConnectedAtFinish: boolean | undefined;
    await runner.pool<{ n: number }, { n: number }>('slow', {
      agent: async (task) => {
        started = true;
        await gate;
        submitterConnectedAtFinish = submitterTransport.connected;
        return { n: task.n };
      },
      min: 1,
      max: 1,
      ackWaitMs: 30_000,
    });
    await until(() => submitter.members().some((m) => m.pools?.includes('slow') === true), 'the runner in the submitter view');

    const outcome = submitter.submit('slow', { n: 7 }, { id: 'task-7', timeoutMs: 30_000 });
    outcome.catch(() => undefined);
    await until(() => started, 'the agent to start the task');

    // the fault: the server goes away; the runner comes back at once, the submitter only ~4 s later
    await server.kill();
    await until(() => submitterStatus.includes('disconnected') && runnerStatus.includes('disconnected'), 'both nodes to see the disconnect');
    await server.restart();
    await until(() => runnerTransport.connected, 'the runner to reconnect', 15_000);
    expect(submitterTransport.connected).toBe(false);
    release();
    // the outcome was stored and published while the submitter was still away
    await until(() => submitterConnectedAtFinish !== undefined, 'the agent to finish');
    expect(submitterConnectedAtFinish).toBe(false);

    await expect(outcome).resolves.toEqual({ n: 7 });
    expect(submitterStatus).toContain('reconnected');
  });
});
