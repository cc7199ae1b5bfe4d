// The client commands — status, spawn, send, ask — each a short session of ClusterClient calls that prints
// a readable result (or JSON with --json) and returns the exit code.
import { InvalidArgumentError, NoSuchActorError } from '../../protocols/errors.js';
import type { CliIO } from '../cli.js';
import { ClusterClient, parseEventArg } from '../ClusterClient.js';
import type { NodeStatus } from '../NodeControl.js';
import { formatDuration, table } from './format.js';

interface ClientOptions {
  cluster: string;
  nats?: string;
}

async function withClient<T>(raw: Record<string, unknown>, fn: (c: ClusterClient) => Promise<T>): Promise<T> {
  const o = raw as unknown as ClientOptions;
  const client = await ClusterClient.connect({ cluster: o.cluster, nats: o.nats });
  try {
    return await fn(client);
  } finally {
    await client.close();
  }
}

/** `hive status`. */
export async function runStatus(raw: Record<string, unknown>, io: CliIO): Promise<number> {
  const nodes = await withClient(raw, (c) => c.status(raw['wait'] as number));
  if (raw['json'] === true) {
    io.out(`${JSON.stringify({ cluster: raw['cluster'], nodes }, null, 2)}\n`);
    return 0;
  }
  io.out(renderStatus(String(raw['cluster']), nodes));
  return 0;
}

/** The human-readable status: nodes, then actors. */
export function renderStatus(cluster: string, nodes: NodeStatus[]): string {
  if (nodes.length === 0) return `cluster ${cluster}: no live nodes answered (start one with: hive start --cluster ${cluster})\n`;
  let out = `cluster ${cluster}: ${nodes.length} live node${nodes.length === 1 ? '' : 's'}\n\n`;
  out += table(
    ['NODE', 'UPTIME', 'ACTORS', 'KINDS', 'MEMORY', 'RSS', 'PID'],
    nodes.map((n) => [n.node, formatDuration(n.uptimeMs), String(n.actorCount), n.kinds.join(','), memoryColumn(n), `${Math.round(n.memory.rssBytes / 1048576)} MB`, String(n.pid)]),
  );
  const actors = nodes.flatMap((n) => n.actors.map((a) => [a.id, n.node, a.kind, a.status, String(a.mailboxDepth), String(a.handled)]));
  out += '\n';
  if (actors.length === 0) out += 'no actors\n';
  else out += table(['ACTOR', 'NODE', 'KIND', 'STATUS', 'MAILBOX', 'HANDLED'], actors);
  const truncated = nodes.filter((n) => n.truncated);
  if (truncated.length > 0) out += `(only the first actors of ${truncated.map((n) => n.node).join(', ')} are listed; use --json for counts)\n`;
  return out;
}

/** The node's semantic memory in one word or two: `off`, or backend and state (`pglite ready`, `postgres opening`, breaker when not closed). */
function memoryColumn(n: NodeStatus): string {
  const m = n.extra?.['memory'] as { backend?: unknown; state?: unknown; breaker?: unknown } | undefined;
  if (m === undefined || m === null || typeof m !== 'object') return 'off';
  const breaker = typeof m.breaker === 'string' && m.breaker !== 'closed' && m.breaker !== 'none' ? ` breaker:${m.breaker}` : '';
  return `${typeof m.backend === 'string' ? m.backend : '?'} ${typeof m.state === 'string' ? m.state : '?'}${breaker}`;
}

/** `hive spawn <kind> --id <id>`. */
export async function runSpawn(kind: string, raw: Record<string, unknown>, io: CliIO): Promise<number> {
  const input = raw['input'] === undefined ? undefined : parseJsonArg(raw['input'] as string, '--input');
  const result = await withClient(raw, (c) => c.spawn(kind, String(raw['id']), input, raw['node'] as string | undefined, raw['timeout'] as number));
  io.out(`spawned ${result.id} (${result.kind}) on node ${result.node}\n`);
  return 0;
}

/** `hive send <id> <json>`. */
export async function runSend(id: string, json: string, raw: Record<string, unknown>, io: CliIO): Promise<number> {
  const event = parseEventArg(json);
  await withClient(raw, async (c) => {
    // a tell has no answer: look for what hosts the actor first, so that a send to nothing says so
    if (!(await c.hosts(id, raw['timeout'] as number))) {
      throw new NoSuchActorError(`nothing hosts "${id}" in cluster "${String(raw['cluster'])}" (no live node lists it${id.includes('/') ? ' or registers its kind' : ''}): not sent`, { details: { actor: id } });
    }
    await c.send(id, event);
  });
  io.out(`sent ${event.type} to ${id}\n`);
  return 0;
}

/** `hive ask <id> <json>`: prints the reply as JSON. */
export async function runAsk(id: string, json: string, raw: Record<string, unknown>, io: CliIO): Promise<number> {
  const event = parseEventArg(json);
  const answer = await withClient(raw, (c) => c.ask(id, event, raw['timeout'] as number));
  io.out(`${JSON.stringify(answer)}\n`);
  return 0;
}

function parseJsonArg(json: string, flag: string): unknown {
  try {
    return JSON.parse(json);
  } catch (err) {
    throw new InvalidArgumentError(`${flag} is not valid JSON: ${(err as Error).message}`, { details: { option: flag } });
  }
}

/** `hive submit <pool> <json>`: queues a task; with --wait prints its outcome. */
export async function runSubmit(pool: string, json: string, raw: Record<string, unknown>, io: CliIO): Promise<number> {
  const task = parseJsonArg(json, '<json>');
  const wait = raw['wait'] === true;
  const answer = (await withClient(raw, (c) =>
    c.submit(pool, task, { key: raw['key'] as string | undefined, id: raw['id'] as string | undefined, wait, timeoutMs: raw['timeout'] as number }),
  )) as { id?: string; result?: unknown; attempts?: number; agent?: string };
  if (raw['json'] === true || !wait) io.out(wait ? `${JSON.stringify(answer)}\n` : `queued task ${answer.id ?? '?'} on pool ${pool}\n`);
  else io.out(`${JSON.stringify(answer.result)}\n`);
  return 0;
}

interface PoolRow {
  pool: string;
  size: number;
  target: number;
  busy: number;
  capacity: number;
  queued: number;
  done: number;
  failed: number;
  retried: number;
  deadLettered: number;
  nodes: string[];
  decisions: Array<{ at: number; from: number; to: number; reason: string }>;
  /** Breaker state per node. */
  breakers: Record<string, string>;
  /** The pool machine's state per node (starting, running, breakerOpen, draining, stopped). */
  states: Record<string, string>;
}

/**
 * Adds up each pool's size and load over the nodes hosting it; done, failed, retried and dead-lettered are the
 * durable cluster-wide totals the nodes report (the freshest, i.e. highest, of their reads), so they include
 * nodes that are gone.
 */
export function aggregatePools(nodes: NodeStatus[]): PoolRow[] {
  const rows = new Map<string, PoolRow>();
  for (const n of nodes) {
    const pools = (n.extra?.['pools'] ?? []) as Array<Omit<PoolRow, 'nodes'> & { node: string; cluster?: Pick<PoolRow, 'done' | 'failed' | 'retried' | 'deadLettered'> }>;
    for (const p of pools) {
      const r = rows.get(p.pool) ?? { pool: p.pool, size: 0, target: p.target, busy: 0, capacity: 0, queued: 0, done: 0, failed: 0, retried: 0, deadLettered: 0, nodes: [], decisions: [], breakers: {}, states: {} };
      r.size += p.size;
      r.busy += p.busy;
      r.capacity += p.capacity;
      r.queued = Math.max(r.queued, p.queued);
      const c = p.cluster ?? p;
      r.done = Math.max(r.done, c.done);
      r.failed = Math.max(r.failed, c.failed);
      r.retried = Math.max(r.retried, c.retried);
      r.deadLettered = Math.max(r.deadLettered, c.deadLettered);
      r.target = Math.max(r.target, p.target);
      r.nodes.push(n.node);
      r.decisions.push(...(p.decisions ?? []));
      r.breakers[n.node] = (p as { breaker?: string }).breaker ?? 'off';
      r.states[n.node] = (p as { state?: string }).state ?? 'unknown';
      rows.set(p.pool, r);
    }
  }
  return [...rows.values()].sort((a, b) => a.pool.localeCompare(b.pool));
}

/** `hive pools`: size, busy, queued, done, failed and dead-lettered per pool. */
export async function runPools(raw: Record<string, unknown>, io: CliIO): Promise<number> {
  const nodes = await withClient(raw, (c) => c.status(raw['wait'] as number));
  const rows = aggregatePools(nodes);
  if (raw['json'] === true) {
    io.out(`${JSON.stringify({ cluster: raw['cluster'], pools: rows, nodes: nodes.map((n) => ({ node: n.node, pools: n.extra?.['pools'] ?? [] })) }, null, 2)}\n`);
    return 0;
  }
  if (rows.length === 0) {
    io.out(`cluster ${String(raw['cluster'])}: no pools\n`);
    return 0;
  }
  io.out(
    table(
      ['POOL', 'SIZE', 'TARGET', 'BUSY', 'UTIL', 'QUEUED', 'DONE', 'FAILED', 'RETRIED', 'DEAD', 'BREAKER', 'STATE', 'NODES'],
      rows.map((r) => [
        r.pool,
        String(r.size),
        String(r.target),
        String(r.busy),
        r.capacity === 0 ? '-' : `${Math.round((100 * r.busy) / r.capacity)}%`,
        String(r.queued),
        String(r.done),
        String(r.failed),
        String(r.retried),
        String(r.deadLettered),
        breakerSummary(r.breakers),
        breakerSummary(r.states),
        r.nodes.join(','),
      ]),
    ),
  );
  const decisions = rows.flatMap((r) => r.decisions.map((d) => ({ pool: r.pool, ...d }))).sort((a, b) => a.at - b.at);
  if (decisions.length > 0) {
    io.out('\nscaling decisions (latest last)\n');
    io.out(table(['POOL', 'WHEN', 'SIZE', 'WHY'], decisions.slice(-10).map((d) => [d.pool, new Date(d.at).toISOString().slice(11, 19), `${d.from} -> ${d.to}`, d.reason])));
  }
  return 0;
}

/** One state (of the breakers, of the pool machines) when every node agrees, else `node:state` pairs. */
function breakerSummary(states: Record<string, string>): string {
  const distinct = new Set(Object.values(states));
  if (distinct.size <= 1) return [...distinct][0] ?? '-';
  return Object.entries(states)
    .map(([node, state]) => `${node}:${state}`)
    .join(',');
}
