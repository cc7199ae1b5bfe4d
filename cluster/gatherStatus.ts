// Scatter-gather of node status over the transport: publish `sys.status` once with a private reply subject and
// collect every node's answer until they stop coming. Used by the CLI (`hive status`) and by a node's HTTP
// endpoint (`/api/cluster`), so both see the same view.
import { decodeJson, encodeJson } from '../protocols/frame.js';
import { sysSubject } from '../protocols/subjects.js';
import type { Transport } from '../runtime/Transport.js';
import type { NodeStatus } from './NodeControl.js';

const MAX_REPLY = 64 * 1024 * 1024;
/** Answers kept at most (a bound on what the wire can grow here). */
const MAX_NODES = 10_000;

/**
 * Every live node's status: collected until `quietMs` pass without a new answer after the first one, or
 * `waitMs` in all (nodes answer at once; the quiet period only covers stragglers on a busy machine).
 * Answers that are not status objects are ignored. Sorted by node id.
 */
export async function gatherStatus(transport: Transport, cluster: string, waitMs = 2000, quietMs = 200): Promise<NodeStatus[]> {
  // Under this connection's own inbox prefix (a restricted user may subscribe there only), unguessable.
  const inbox = transport.createInbox();
  const answers = new Map<string, NodeStatus>();
  let settle: (() => void) | undefined;
  let quiet: ReturnType<typeof setTimeout> | undefined;
  const done = new Promise<void>((r) => (settle = r));
  const sub = transport.subscribe(inbox, (m) => {
    try {
      const s = decodeJson(m.data, MAX_REPLY) as NodeStatus;
      if (typeof s !== 'object' || s === null || s.type !== 'hive.node.status' || typeof s.node !== 'string') return;
      if (answers.size >= MAX_NODES && !answers.has(s.node)) return;
      answers.set(s.node, s);
      if (quiet !== undefined) clearTimeout(quiet);
      quiet = setTimeout(() => settle?.(), quietMs);
    } catch {
      // not a status answer
    }
  });
  const cap = setTimeout(() => settle?.(), waitMs);
  try {
    await transport.flush();
    transport.publish(sysSubject(cluster, 'status'), encodeJson({ type: 'hive.status' }), inbox);
    await done;
  } finally {
    clearTimeout(cap);
    if (quiet !== undefined) clearTimeout(quiet);
    sub.unsubscribe();
  }
  return [...answers.values()].sort((a, b) => a.node.localeCompare(b.node));
}
