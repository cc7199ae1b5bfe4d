// Readiness of a node for `/readyz`: connected to NATS, its own subscriptions answering through the server
// (a request to its own control subject makes the whole round trip), and memory open or disabled.
import { sysSubject } from '../../protocols/subjects.js';
import type { Hive } from '../Hive.js';
import { hiveInternals } from '../internal.js';

/** One readiness check. */
export interface ReadinessCheck {
  name: 'nats' | 'subscriptions' | 'memory';
  ok: boolean;
  detail: string;
}

/** What `/readyz` answers. */
export interface Readiness {
  ready: boolean;
  node: string;
  checks: ReadinessCheck[];
}

/** Runs the readiness checks of `hive` (the subscription check waits at most `timeoutMs`). */
export async function checkReadiness(hive: Hive, timeoutMs = 2000): Promise<Readiness> {
  const checks: ReadinessCheck[] = [];
  const t = hiveInternals(hive).transport;
  const nats = t.kind !== 'nats' ? { ok: true, detail: `no NATS: ${t.description}` } : t.connected ? { ok: true, detail: `connected to ${t.description}` } : { ok: false, detail: `not connected to NATS (${t.description})` };
  checks.push({ name: 'nats', ...nats });
  if (!nats.ok) {
    checks.push({ name: 'subscriptions', ok: false, detail: 'not checked: NATS is not connected' });
  } else {
    try {
      // through the node's transit, like every request (its inbox, deadline and error mapping)
      await hiveInternals(hive).system.transit.requestJson(sysSubject(hive.cluster, 'node', hive.nodeId, 'status'), { type: 'hive.status' }, { timeoutMs });
      checks.push({ name: 'subscriptions', ok: true, detail: 'this node’s control subject answered through the server' });
    } catch (err) {
      checks.push({ name: 'subscriptions', ok: false, detail: `this node’s control subject did not answer: ${err instanceof Error ? err.message : String(err)}` });
    }
  }
  const memory = hive.memoryState;
  checks.push({ name: 'memory', ok: memory === 'ready' || memory === 'off', detail: memory === 'off' ? 'disabled on this node' : `store ${memory}` });
  return { ready: checks.every((c) => c.ok), node: hive.nodeId, checks };
}
