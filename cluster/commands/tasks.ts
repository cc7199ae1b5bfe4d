// The task commands: `hive result <pool> <task-id>` (the stored outcome of a task submitted without --wait)
// and `hive dead <pool> [--replay]` (the pool's dead-lettered tasks; replay submits them again). Both read
// JetStream as a plain client: the result store and the dead-letter stream outlive the nodes.
import { errorFromReply, isErrorReply, NoSuchActorError } from '../../protocols/errors.js';
import { outcomeError, type TaskOutcome } from '../../actors/pool/TaskRecord.js';
import type { CliIO } from '../cli.js';
import { ClusterClient } from '../ClusterClient.js';
import { table } from './format.js';

async function withClient<T>(raw: Record<string, unknown>, fn: (c: ClusterClient) => Promise<T>): Promise<T> {
  const client = await ClusterClient.connect({ cluster: String(raw['cluster']), nats: raw['nats'] as string | undefined });
  try {
    return await fn(client);
  } finally {
    await client.close();
  }
}

/** `hive result <pool> <task-id>`: prints the result (exit 0), or the error with its attempts (exit 1). */
export async function runResult(pool: string, id: string, raw: Record<string, unknown>, io: CliIO): Promise<number> {
  const outcome = await withClient(raw, (c) => c.taskOutcome(id));
  if (outcome === undefined || outcome['pool'] !== pool) {
    throw new NoSuchActorError(`no result for task ${id} of pool "${pool}" (yet): it is queued or running, or unknown (results are kept 24 h); see hive pools`, { details: { pool, task: id } });
  }
  if (raw['json'] === true) io.out(`${JSON.stringify(outcome)}\n`);
  if (outcome['ok'] === true) {
    if (raw['json'] !== true) io.out(`${JSON.stringify(outcome['result'])}\n`);
    return 0;
  }
  const o = outcome as unknown as TaskOutcome;
  const { error: stored, ...rest } = o;
  const error = outcomeError({ ...rest, attempts: Number(o.attempts) || 0, ...(isErrorReply(stored) && { error: stored }) });
  throw errorFromReply(error);
}

/** `hive dead <pool> [--replay]`: lists dead-lettered tasks (id, attempts, error); `--replay` submits them again. */
export async function runDead(pool: string, raw: Record<string, unknown>, io: CliIO): Promise<number> {
  return withClient(raw, async (c) => {
    const dead = await c.deadTasks(pool, raw['limit'] as number);
    const rows = dead.map((d) => {
      const task = (d.record['task'] ?? {}) as Record<string, unknown>;
      const error = isErrorReply(d.record['error']) ? d.record['error'] : undefined;
      return {
        seq: d.seq,
        id: typeof task['id'] === 'string' ? task['id'] : '?',
        key: typeof task['key'] === 'string' ? task['key'] : undefined,
        task: task['task'],
        attempts: Number(d.record['attempts'] ?? d.deliveries ?? 0),
        code: error?.code ?? d.code ?? '?',
        message: error?.message ?? d.reason ?? '',
        at: typeof d.record['at'] === 'number' ? new Date(d.record['at']).toISOString() : '',
      };
    });
    const replayed: Array<{ id: string; newId: string }> = [];
    if (raw['replay'] === true) {
      for (const r of rows) {
        if (r.id === '?') continue;
        const answer = (await c.submit(pool, r.task, { key: r.key, wait: false, timeoutMs: raw['timeout'] as number })) as { id?: string };
        await c.dropDead(r.seq);
        replayed.push({ id: r.id, newId: String(answer.id ?? '?') });
      }
    }
    if (raw['json'] === true) {
      io.out(`${JSON.stringify({ cluster: raw['cluster'], pool, dead: rows, ...(raw['replay'] === true && { replayed }) }, null, 2)}\n`);
      return 0;
    }
    if (rows.length === 0) {
      io.out(`pool ${pool}: no dead-lettered tasks\n`);
      return 0;
    }
    io.out(table(['TASK', 'ATTEMPTS', 'ERROR', 'WHEN'], rows.map((r) => [r.id, String(r.attempts), `${r.code}: ${r.message}`.slice(0, 100), r.at])));
    for (const r of replayed) io.out(`replayed ${r.id} as task ${r.newId}\n`);
    return 0;
  });
}
