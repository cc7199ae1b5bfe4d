// A task's stored outcome belongs to the submission that created it, over a real nats-server: another client
// that resubmits the same task id with another task (through hive.submit, or a raw request on the pool subject
// `hive.<cluster>.pool.<name>`) gets TASK_ID_CONFLICT and never the first submitter's result, while the first
// submitter's own resubmission (same task, keys in any order) is answered from the store without running again.
import { connect } from '@nats-io/transport-node';
import { afterEach, describe, expect, it } from 'vitest';
import { HiveError, TaskIdConflictError } from '../../../protocols/errors.js';
import { poolSubject } from '../../../protocols/subjects.js';
import { NATS_URL, natsAvailable, uniqueName } from '../../support/services.js';
import { startNatsNode, stopNatsNodes, until } from '../../support/natsNodes.js';

const hasNats = await natsAvailable();
async function failure(p: Promise<unknown>): Promise<HiveError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(HiveError);
    return err as HiveError;
  }
  throw new Error('expected an error');
}

afterEach(stopNatsNodes);

type Task = { secret: string; user: string };

describe.skipIf(!hasNats)('task id conflicts over NATS', () => {
  it("client B resubmitting client A's task id with another task gets TASK_ID_CONFLICT, not A's result; A's own resubmission gets it", async () => {
    const cluster = uniqueName('tidc');
    const worker = await startNatsNode(cluster, 'w');
    const clientA = await startNatsNode(cluster, 'a');
    const clientB = await startNatsNode(cluster, 'b');
    const runs: Task[] = [];
    await worker.pool<Task, { echo: string; run: number }>('vault', { agent: (task) => (runs.push(task), { echo: task.secret, run: runs.length }), min: 1, max: 1, autoscale: false });
    await until(() => [clientA, clientB].every((c) => c.members().some((m) => m.pools?.includes('vault') === true)), 'the pool to be announced');

    const first = (await clientA.submit('vault', { secret: 'A-only', user: 'a' }, { id: 'victim-1' })) as { echo: string; run: number };
    expect(first).toEqual({ echo: 'A-only', run: 1 });

    // B through hive.submit: typed, non-retryable, no trace of A's result
    const viaSubmit = await failure(clientB.submit('vault', { secret: 'guess', user: 'b' }, { id: 'victim-1' }));
    expect(viaSubmit).toBeInstanceOf(TaskIdConflictError);
    expect(viaSubmit.code).toBe('TASK_ID_CONFLICT');
    expect(viaSubmit.retryable).toBe(false);
    expect(JSON.stringify(viaSubmit.toReply())).not.toContain('A-only');
    // the same id with the same task but another key is another submission too
    expect((await failure(clientB.submit('vault', { secret: 'A-only', user: 'a' }, { id: 'victim-1', key: 'k' }))).code).toBe('TASK_ID_CONFLICT');

    // B as a raw NATS client on the pool subject: the wire answer is the error, not the outcome
    const nc = await connect({ servers: NATS_URL });
    try {
      const answer = await nc.request(poolSubject(cluster, 'vault'), JSON.stringify({ task: { secret: 'x', user: 'b' }, id: 'victim-1' }), { timeout: 10_000 });
      const text = answer.string();
      expect(text).not.toContain('A-only');
      expect(JSON.parse(text)).toMatchObject({ type: 'hive.error', code: 'TASK_ID_CONFLICT', retryable: false, id: 'victim-1' });
    } finally {
      await nc.close();
    }

    // A's own resubmission (same task, keys in another order) is answered from the store: the agent ran once
    expect(await clientA.submit('vault', { user: 'a', secret: 'A-only' }, { id: 'victim-1' })).toEqual(first);
    expect(runs).toEqual([{ secret: 'A-only', user: 'a' }]);
  });

  it('two callers waiting on one node for the same id with different tasks: the first submission gets its outcome, the other TASK_ID_CONFLICT', async () => {
    const cluster = uniqueName('tidw');
    const worker = await startNatsNode(cluster, 'w');
    const client = await startNatsNode(cluster, 'c');
    const started: Task[] = [];
    let release: (() => void) | undefined;
    await worker.pool<Task, string>('slow', {
      agent: (task) =>
        new Promise<string>((resolve) => {
          started.push(task);
          release = () => resolve(task.secret);
        }),
      min: 1,
      max: 1,
      autoscale: false,
    });
    await until(() => client.members().some((m) => m.pools?.includes('slow') === true), 'the pool to be announced');
    const owner = client.submit('slow', { secret: 'owner', user: 'a' }, { id: 'shared-2', timeoutMs: 30_000 });
    await until(() => started.length === 1, 'the first task to start');
    // queued while the first runs: the queue de-duplicates the id, and the outcome that comes is not this caller's
    const intruder = client.submit('slow', { secret: 'intruder', user: 'b' }, { id: 'shared-2', timeoutMs: 30_000 });
    await until(() => release !== undefined, 'the agent to hold the task');
    release!();
    expect(await owner).toBe('owner');
    const e = await failure(intruder);
    expect(e.code).toBe('TASK_ID_CONFLICT');
    expect(e.message).not.toContain('owner"');
    expect(started).toEqual([{ secret: 'owner', user: 'a' }]);
  });
});
