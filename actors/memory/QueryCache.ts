// A bounded LRU + TTL cache of search results keyed by (namespace, query, k, filter, efSearch), invalidated
// per namespace by writes, counting hits and misses. Time comes from an injected Clock.
import { createHash } from 'node:crypto';
import { systemClock, type Clock } from '../../runtime/Clock.js';
import type { SearchHit } from './MemoryStore.js';

/** Options for {@link QueryCache}. */
export interface QueryCacheOptions {
  /** Most entries kept; the least recently used goes first (default 1,000). */
  maxEntries?: number;
  /** Ms an entry stays valid (default 60,000). */
  ttlMs?: number;
  /** Time source (default the system clock). */
  clock?: Clock;
}

/** What identifies a cached search: the query is text (embedded later) or a vector. */
export interface QueryKey {
  namespace: string;
  query: string | Float32Array | readonly number[];
  k: number;
  filter?: Record<string, unknown> | undefined;
  efSearch?: number | undefined;
}

/** Hit/miss counts and size. */
export interface QueryCacheStats {
  hits: number;
  misses: number;
  /** hits / (hits + misses), 0 before any lookup. */
  hitRate: number;
  size: number;
}

interface Entry<V> {
  value: V;
  expires: number;
  namespace: string;
}

/** JSON with object keys sorted, so `{a, b}` and `{b, a}` give one key. */
function stableJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(stableJson).join(',')}]`;
  if (value && typeof value === 'object') {
    const o = value as Record<string, unknown>;
    return `{${Object.keys(o)
      .filter((k) => o[k] !== undefined)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${stableJson(o[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

/** The cache key string of a query (vectors are hashed: the same float32 values give the same key). */
export function queryKey(key: QueryKey): string {
  let q: string;
  if (typeof key.query === 'string') q = `t:${key.query}`;
  else {
    const v = key.query instanceof Float32Array ? key.query : Float32Array.from(key.query);
    q = `v:${createHash('sha1').update(new Uint8Array(v.buffer, v.byteOffset, v.byteLength)).digest('base64')}`;
  }
  return `${key.namespace}\u0001${key.k}\u0001${key.efSearch ?? ''}\u0001${key.filter ? stableJson(key.filter) : ''}\u0001${q}`;
}

/** Most namespaces whose invalidation generation a cache keeps. */
export const MAX_GENERATIONS = 4096;

/**
 * Recent search results. A write to a namespace must call {@link QueryCache.invalidate} for it; a search that
 * raced with that write passes the {@link QueryCache.generation} it read before searching to `set`, and its
 * (possibly stale) result is then not cached.
 */
export class QueryCache<V = SearchHit[]> {
  private readonly maxEntries: number;
  private readonly ttlMs: number;
  private readonly clock: Clock;
  private readonly entries = new Map<string, Entry<V>>();
  private readonly byNamespace = new Map<string, Set<string>>();
  /**
   * Generations of the namespaces invalidated last (at most MAX_GENERATIONS, oldest dropped first): each
   * invalidation takes the next value of one counter, and a dropped namespace reads as `floor`, the highest
   * value dropped. So a generation read before an invalidation never equals one read after, while the map
   * stays bounded however many namespaces are ever written (a dropped one may at worst skip caching one
   * search that raced with another namespace's write).
   */
  private readonly generations = new Map<string, number>();
  private epoch = 0;
  private floor = 0;
  private hits = 0;
  private misses = 0;

  constructor(options: QueryCacheOptions = {}) {
    this.maxEntries = options.maxEntries ?? 1000;
    this.ttlMs = options.ttlMs ?? 60_000;
    this.clock = options.clock ?? systemClock;
    if (!Number.isInteger(this.maxEntries) || this.maxEntries < 1) throw new RangeError(`QueryCache maxEntries must be a positive integer, got ${this.maxEntries}`);
    if (!(this.ttlMs > 0)) throw new RangeError(`QueryCache ttlMs must be positive, got ${this.ttlMs}`);
  }

  /** The cached result, or undefined (counted as a miss) when absent or expired. */
  get(key: QueryKey): V | undefined {
    const k = queryKey(key);
    const entry = this.entries.get(k);
    if (!entry || entry.expires <= this.clock.now()) {
      if (entry) this.remove(k, entry);
      this.misses += 1;
      return undefined;
    }
    // Most recently used goes to the end of the Map's order.
    this.entries.delete(k);
    this.entries.set(k, entry);
    this.hits += 1;
    return entry.value;
  }

  /**
   * Caches a result.
   * @param generation the namespace's {@link QueryCache.generation} read before the search ran; when a
   *   write invalidated the namespace since, the result is dropped instead of cached
   */
  set(key: QueryKey, value: V, generation?: number): void {
    if (generation !== undefined && generation !== this.generation(key.namespace)) return;
    const k = queryKey(key);
    const old = this.entries.get(k);
    if (old) this.remove(k, old);
    this.entries.set(k, { value, expires: this.clock.now() + this.ttlMs, namespace: key.namespace });
    let keys = this.byNamespace.get(key.namespace);
    if (!keys) this.byNamespace.set(key.namespace, (keys = new Set()));
    keys.add(k);
    while (this.entries.size > this.maxEntries) {
      const [oldestKey, oldest] = this.entries.entries().next().value as [string, Entry<V>];
      this.remove(oldestKey, oldest);
    }
  }

  /** A counter that changes on every invalidation of the namespace. */
  generation(namespace: string): number {
    return this.generations.get(namespace) ?? this.floor;
  }

  /** Namespaces whose generation is kept (the rest read as the floor). */
  get generationsKept(): number {
    return this.generations.size;
  }

  private bump(namespace: string): void {
    this.generations.delete(namespace);
    this.generations.set(namespace, ++this.epoch);
    while (this.generations.size > MAX_GENERATIONS) {
      const [oldest, value] = this.generations.entries().next().value as [string, number];
      this.generations.delete(oldest);
      this.floor = Math.max(this.floor, value);
    }
  }

  /** Drops every cached result of a namespace (call it on every write there). */
  invalidate(namespace: string): void {
    this.bump(namespace);
    const keys = this.byNamespace.get(namespace);
    if (!keys) return;
    for (const k of keys) this.entries.delete(k);
    this.byNamespace.delete(namespace);
  }

  /** Drops everything (counters stay). */
  clear(): void {
    for (const ns of this.byNamespace.keys()) this.bump(ns);
    this.entries.clear();
    this.byNamespace.clear();
  }

  /** Hits, misses, hit rate and size. */
  stats(): QueryCacheStats {
    const total = this.hits + this.misses;
    return { hits: this.hits, misses: this.misses, hitRate: total === 0 ? 0 : this.hits / total, size: this.entries.size };
  }

  private remove(key: string, entry: Entry<V>): void {
    this.entries.delete(key);
    const keys = this.byNamespace.get(entry.namespace);
    if (!keys) return;
    keys.delete(key);
    if (keys.size === 0) this.byNamespace.delete(entry.namespace);
  }
}
