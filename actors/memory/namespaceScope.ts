// Memory requests scoped to one namespace by their subject, so a NATS permission can grant a tenant one
// namespace: `hive.<cluster>.memory.<namespace>` serves ingest, search, delete-by-ids and stats of that
// namespace only. The bare `hive.<cluster>.memory` serves everything (all namespaces, cluster-wide stats,
// deleting a whole namespace): in the generated NATS permissions only admins may publish there.
import type { HiveEvent } from '../../protocols/envelope.js';
import { InvalidArgumentError, InvalidEventError } from '../../protocols/errors.js';
import { isToken } from '../../protocols/subjects.js';
import { DEFAULT_NAMESPACE } from './memoryProtocol.js';

/** `hive.<cluster>.memory.<namespace>`: the memory of one namespace. */
export function memoryNamespaceSubject(cluster: string, namespace: string): string {
  return `hive.${cluster}.memory.${namespace}`;
}

/**
 * Checks that `event`, received on the subject of `namespace`, touches that namespace only, and returns it
 * with the namespace filled in. Refuses (INVALID_ARGUMENT) another namespace in the request or in a document,
 * a whole-namespace delete (an admin operation, on the bare memory subject), and unknown types (INVALID_EVENT).
 */
export function scopeToNamespace(event: HiveEvent, namespace: string): HiveEvent {
  const other = (where: string, got: unknown): InvalidArgumentError =>
    new InvalidArgumentError(`this subject serves namespace "${namespace}" only; ${where} names ${JSON.stringify(got)}`, { details: { namespace, where } });
  const given = event['namespace'];
  if (given !== undefined && given !== namespace) throw other('the request', given);
  switch (event.type) {
    case 'memory.ingest': {
      const docs = event['docs'];
      if (Array.isArray(docs)) {
        for (let i = 0; i < docs.length; i++) {
          const d = docs[i] as { namespace?: unknown } | null;
          if (typeof d === 'object' && d !== null && d.namespace !== undefined && d.namespace !== namespace) throw other(`document ${i}`, d.namespace);
        }
      }
      return { ...event, namespace };
    }
    case 'memory.delete':
      if (event['ids'] === undefined) {
        throw new InvalidArgumentError(`deleting the whole namespace "${namespace}" is an admin operation: send it on the cluster's memory subject`, {
          details: { namespace },
        });
      }
      return { ...event, namespace };
    case 'memory.search':
    case 'memory.stats':
      return { ...event, namespace };
    default:
      throw new InvalidEventError(`"${event.type}" is not a memory request of one namespace (memory.ingest, memory.search, memory.delete with ids, memory.stats)`, {
        details: { type: event.type },
      });
  }
}

/**
 * The one namespace a request touches, when it can go on that namespace's subject: a search, stats of a
 * namespace, a delete of given ids, an ingest whose documents name no other namespace. Otherwise undefined
 * (the request goes on the bare memory subject).
 */
export function namespaceOfRequest(event: HiveEvent): string | undefined {
  const ns = event['namespace'];
  if (ns === undefined) return event.type === 'memory.ingest' && sameDocNamespace(event['docs'], DEFAULT_NAMESPACE) ? DEFAULT_NAMESPACE : undefined;
  if (!isToken(ns)) return undefined;
  switch (event.type) {
    case 'memory.search':
    case 'memory.stats':
      return ns;
    case 'memory.delete':
      return event['ids'] === undefined ? undefined : ns;
    case 'memory.ingest':
      return sameDocNamespace(event['docs'], ns) ? ns : undefined;
    default:
      return undefined;
  }
}

function sameDocNamespace(docs: unknown, ns: string): boolean {
  if (!Array.isArray(docs)) return false;
  for (const d of docs) {
    const n = typeof d === 'object' && d !== null ? (d as { namespace?: unknown }).namespace : undefined;
    if (n !== undefined && n !== ns) return false;
  }
  return true;
}
