// What code sees of semantic memory (`hive.memory`, and `ctx.memory` in a pool agent's handler): the methods
// of the cluster's Memory handle, typed, without the node-side machinery behind it.
import type { SearchHit } from './MemoryStore.js';
import type { IngestedAnswer, QueuedAnswer, SearchRequest, StatsAnswer } from './memoryProtocol.js';

/** A search from code: text or vector, in a namespace (the fields of a `memory.search` request). */
export interface MemorySearch extends Omit<SearchRequest, 'type'> {
  /** Ms to wait for the answer (default 60,000). */
  timeoutMs?: number;
}

/** Options of {@link MemoryApi.ingest}. */
export interface MemoryIngestCall {
  /** Namespace of documents that do not name one (default `default`). */
  namespace?: string;
  /** false: resolve once the documents are durably queued. Default true: once committed. */
  wait?: boolean;
  /** Ms to wait (default 600,000). */
  timeoutMs?: number;
}

/** Semantic memory as code uses it: `hive.memory`, and `ctx.memory` in a pool agent. */
export interface MemoryApi {
  /** True when this node has its own memory (otherwise calls go to the cluster's). */
  readonly isLocal: boolean;
  /** Stores documents (resolves with inserted / duplicates / rejected, or with `wait: false` once durably queued). */
  ingest(docs: readonly unknown[], options?: MemoryIngestCall & { wait?: true }): Promise<IngestedAnswer>;
  ingest(docs: readonly unknown[], options: MemoryIngestCall & { wait: false }): Promise<QueuedAnswer>;
  ingest(docs: readonly unknown[], options?: MemoryIngestCall): Promise<IngestedAnswer | QueuedAnswer>;
  /** The k nearest documents to a text or vector in a namespace, best first. */
  search(query: MemorySearch): Promise<SearchHit[]>;
  /** Deletes the given ids of a namespace, or the whole namespace; resolves with the number deleted. */
  delete(namespace: string, ids?: readonly string[]): Promise<number>;
  /** Document counts, table and index bytes, cache hit rate, queue depth, breaker state. */
  stats(namespace?: string): Promise<StatsAnswer>;
}
