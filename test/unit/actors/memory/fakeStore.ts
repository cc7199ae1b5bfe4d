// An in-memory MemoryStore for unit tests of the memory actor: the real validation and argument checks,
// brute-force cosine search, and switches that make the "database" slow to open, down, or fail after commit.
import { DatabaseError, HiveError } from '../../../../protocols/errors.js';
import { validateDocument, type Document, type Rejection } from '../../../../actors/memory/Document.js';
import type { DeleteRequest, DeleteResult, IngestResult, MemoryStats, MemoryStore, SearchHit, SearchQuery } from '../../../../actors/memory/MemoryStore.js';
import { checkDeleteRequest, checkNamespace, checkSearchQuery } from '../../../../actors/memory/storeArguments.js';

/** A MemoryStore kept in a Map. */
export class FakeStore implements MemoryStore {
  readonly storage = 'halfvec' as const;
  readonly docs = new Map<string, Document>();
  /** Every call fails with a retryable DatabaseError (connection refused) while true. */
  down = false;
  /** The next N ingests commit, then fail as if the connection dropped before the answer. */
  failAfterCommit = 0;
  /** The next N ingests fail with connection refused, storing nothing. */
  failIngest = 0;
  /** Resolves init; replace to make the first open slow. */
  opened: Promise<void> = Promise.resolve();
  calls = { init: 0, ingest: 0, search: 0, ensureIndex: 0 };
  closed = false;

  constructor(readonly dims = 8) {}

  private check(action: string): void {
    if (this.closed) throw new HiveError('UNAVAILABLE', 'closed');
    if (this.down) throw new DatabaseError(`memory ${action} failed: connect ECONNREFUSED 127.0.0.1:1`, { retryable: true, details: { action, errno: 'ECONNREFUSED' } });
  }

  async init(): Promise<void> {
    this.calls.init++;
    await this.opened;
    this.check('init');
  }

  async ingest(docs: readonly unknown[]): Promise<IngestResult> {
    this.calls.ingest++;
    await this.opened;
    this.check('ingest');
    if (this.failIngest > 0) {
      this.failIngest--;
      throw new DatabaseError('memory ingest failed: connect ECONNREFUSED 127.0.0.1:1', { retryable: true, details: { action: 'ingest', errno: 'ECONNREFUSED' } });
    }
    const rejected: Rejection[] = [];
    let inserted = 0;
    let duplicates = 0;
    docs.forEach((d, i) => {
      const r = validateDocument(d, { dims: this.dims, maxContentBytes: 256 * 1024 }, i);
      if (!r.ok) return void rejected.push(r.rejection);
      const key = `${r.doc.namespace}\u0000${r.doc.id}`;
      if (this.docs.has(key)) duplicates++;
      else {
        this.docs.set(key, { ...r.doc, embedding: Float32Array.from(r.doc.embedding) });
        inserted++;
      }
    });
    if (this.failAfterCommit > 0) {
      this.failAfterCommit--;
      throw new DatabaseError('memory ingest failed: Connection terminated unexpectedly', { retryable: true, details: { action: 'ingest' } });
    }
    return { inserted, duplicates, rejected };
  }

  async search(query: SearchQuery): Promise<SearchHit[]> {
    this.calls.search++;
    const q = checkSearchQuery(query, { dims: this.dims, storage: 'halfvec', maxK: 1000, efSearch: 100 });
    await this.opened;
    this.check('search');
    const filter = q.filterJson === undefined ? undefined : (JSON.parse(q.filterJson) as Record<string, unknown>);
    return [...this.docs.values()]
      .filter((d) => d.namespace === q.namespace && (filter === undefined || Object.entries(filter).every(([k, v]) => JSON.stringify(d.metadata[k]) === JSON.stringify(v))))
      .map((d) => ({ id: d.id, content: d.content, metadata: d.metadata, score: cosine(q.vector, d.embedding) }))
      .sort((a, b) => b.score - a.score)
      .slice(0, q.k);
  }

  async delete(request: DeleteRequest): Promise<DeleteResult> {
    const { namespace, ids } = checkDeleteRequest(request);
    this.check('delete');
    let deleted = 0;
    for (const [key, d] of this.docs) {
      if (d.namespace === namespace && (ids === undefined || ids.includes(d.id))) {
        this.docs.delete(key);
        deleted++;
      }
    }
    return { deleted };
  }

  async stats(namespace?: string): Promise<MemoryStats> {
    if (namespace !== undefined) checkNamespace(namespace);
    this.check('stats');
    const counts = new Map<string, number>();
    for (const d of this.docs.values()) if (namespace === undefined || d.namespace === namespace) counts.set(d.namespace, (counts.get(d.namespace) ?? 0) + 1);
    const namespaces = [...counts].sort(([a], [b]) => a.localeCompare(b)).map(([ns, n]) => ({ namespace: ns, documents: n }));
    return { documents: namespaces.reduce((s, n) => s + n.documents, 0), namespaces, tableBytes: 0, indexBytes: 0 };
  }

  async ensureIndex(): Promise<void> {
    this.calls.ensureIndex++;
  }

  async close(): Promise<void> {
    this.closed = true;
  }
}

function cosine(a: Float32Array, b: Float32Array): number {
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) {
    dot += a[i] * b[i];
    na += a[i] * a[i];
    nb += b[i] * b[i];
  }
  return dot / Math.sqrt(na * nb);
}
