// Checks the arguments of search, delete and stats before any SQL runs: a bad k, a wrong-size or
// non-finite query vector, a bad filter or namespace is an InvalidArgumentError naming the argument.
import { F16_MAX, vectorFromWire } from '../../protocols/embeddings.js';
import { InvalidArgumentError } from '../../protocols/errors.js';
import { MAX_ID_LENGTH, NAMESPACE_PATTERN, type EmbeddingStorage } from './Document.js';
import type { DeleteRequest, SearchQuery } from './MemoryStore.js';

/** A search after checking: the vector as float32, the filter as JSON text. */
export interface CheckedSearch {
  namespace: string;
  vector: Float32Array;
  k: number;
  /** The filter as JSON (undefined: no filter, or an empty one, which matches everything). */
  filterJson: string | undefined;
  /** Effective HNSW candidate list size: at least k, at most 1000. */
  efSearch: number;
}

function invalid(argument: string, message: string, value?: unknown): InvalidArgumentError {
  const details: Record<string, unknown> = { argument };
  if (value !== undefined && (typeof value !== 'object' || value === null)) details['value'] = value;
  return new InvalidArgumentError(message, { details });
}

/** Throws unless `namespace` is a namespace token. */
export function checkNamespace(namespace: unknown): string {
  if (typeof namespace !== 'string' || !NAMESPACE_PATTERN.test(namespace)) {
    throw invalid('namespace', `namespace must match [A-Za-z0-9_-]{1,128}, got ${JSON.stringify(namespace) ?? typeof namespace}`, namespace);
  }
  return namespace;
}

/** Checks a query vector: a Float32Array or number array of `dims` finite values, not all zero. */
export function checkVector(vector: unknown, dims: number, storage: EmbeddingStorage): Float32Array {
  const v = vectorFromWire(vector, 'vector');
  if (!(v instanceof Float32Array)) throw invalid('vector', v.reason);
  if (v.length !== dims) throw invalid('vector', `vector has ${v.length} dimensions, expected ${dims}`, v.length);
  const max = storage === 'halfvec' ? F16_MAX : Infinity;
  let nonZero = false;
  for (let i = 0; i < v.length; i++) {
    const x = v[i];
    if (!(Math.abs(x) <= max)) throw invalid('vector', `vector[${i}] is ${String(x)}${Number.isFinite(x) ? `, beyond ±${F16_MAX}` : ''}`);
    if (x !== 0) nonZero = true;
  }
  if (!nonZero) throw invalid('vector', 'vector is all zeros (no direction for cosine similarity)');
  return v;
}

/** Checks a search; throws `InvalidArgumentError` with `details.argument` naming what is wrong. */
export function checkSearchQuery(query: SearchQuery, limits: { dims: number; storage: EmbeddingStorage; maxK: number; efSearch: number }): CheckedSearch {
  if (typeof query !== 'object' || query === null) throw invalid('query', 'search query must be an object');
  const namespace = checkNamespace(query.namespace);
  const k = query.k as unknown;
  if (typeof k !== 'number' || !Number.isInteger(k) || k < 1 || k > limits.maxK) {
    throw invalid('k', `k must be an integer from 1 to ${limits.maxK}, got ${JSON.stringify(k) ?? typeof k}`, k);
  }
  const vector = checkVector(query.vector, limits.dims, limits.storage);
  let filterJson: string | undefined;
  const filter = query.filter as unknown;
  if (filter !== undefined && filter !== null) {
    if (typeof filter !== 'object' || Array.isArray(filter)) throw invalid('filter', 'filter must be a plain object (matched with jsonb containment @>)');
    try {
      filterJson = JSON.stringify(filter);
    } catch (err) {
      throw invalid('filter', `filter is not JSON-serializable: ${(err as Error).message}`);
    }
    if (filterJson === '{}') filterJson = undefined;
  }
  let efSearch = limits.efSearch;
  if (query.efSearch !== undefined) {
    const ef = query.efSearch as unknown;
    if (typeof ef !== 'number' || !Number.isInteger(ef) || ef < 1 || ef > 1000) {
      throw invalid('efSearch', `efSearch must be an integer from 1 to 1000, got ${JSON.stringify(ef) ?? typeof ef}`, ef);
    }
    efSearch = ef;
  }
  return { namespace, vector, k, filterJson, efSearch: Math.min(1000, Math.max(efSearch, k)) };
}

/** Checks a delete request; returns the ids (undefined: the whole namespace). */
export function checkDeleteRequest(request: DeleteRequest): { namespace: string; ids: string[] | undefined } {
  if (typeof request !== 'object' || request === null) throw invalid('request', 'delete request must be an object');
  const namespace = checkNamespace(request.namespace);
  const ids = request.ids as unknown;
  if (ids === undefined) return { namespace, ids: undefined };
  if (!Array.isArray(ids) || !ids.every((id) => typeof id === 'string' && id.length > 0 && id.length <= MAX_ID_LENGTH && !id.includes('\u0000'))) {
    throw invalid('ids', `ids must be an array of strings of 1 to ${MAX_ID_LENGTH} characters`);
  }
  return { namespace, ids: ids as string[] };
}
