// The seam for small replicated state (virtual actor placement, persisted snapshots): compare-and-set on
// keys with revisions, JetStream KV semantics. `cluster/NatsKeyValue` implements it over NATS;
// `MemoryKeyValue` implements it in memory for in-process nodes and tests.

/** A stored value with its revision. */
export interface KvEntry {
  value: Uint8Array;
  revision: number;
}

/** Key/value with revisions; keys are `[A-Za-z0-9_=.-]+`. */
export interface KeyValueStore {
  get(key: string): Promise<KvEntry | undefined>;
  /** Creates `key` when absent; undefined when it already exists (exactly one creator wins). */
  create(key: string, value: Uint8Array): Promise<number | undefined>;
  /** Replaces `key` when its revision is still `revision`; undefined when someone changed it first. */
  update(key: string, value: Uint8Array, revision: number): Promise<number | undefined>;
  /** Writes `key` unconditionally. */
  put(key: string, value: Uint8Array): Promise<number>;
  delete(key: string): Promise<void>;
  /** The keys that start with `prefix` (a dot-terminated key prefix such as `t.`). */
  keys(prefix: string): Promise<string[]>;
}

/** A change a {@link WatchableKeyValue} reports: a key written (`deleted` false) or deleted, at `revision`. */
export interface KvChange {
  key: string;
  revision: number;
  deleted: boolean;
}

/**
 * A {@link KeyValueStore} that also deletes on a revision check and reports every later change to a watcher
 * (virtual-actor placement: an owner learns at once that its key moved on).
 */
export interface WatchableKeyValue extends KeyValueStore {
  /** Deletes `key` when its revision is still `revision`; false when someone changed it first (or it is gone). */
  deleteIf(key: string, revision: number): Promise<boolean>;
  /**
   * Calls `onChange` for every change made from now on (in revision order); `onEnd` once if the watch stops
   * by itself (the bucket is gone, the connection closed). Resolves once the watch is in place, with its stop.
   */
  watch(onChange: (change: KvChange) => void, onEnd: (err: unknown) => void): Promise<() => void>;
  /** Removes the markers deleted keys leave behind once older than `olderThanMs` (how many). */
  purgeDeletes(olderThanMs: number): Promise<number>;
}

/** An in-memory {@link KeyValueStore} (shared by the in-process nodes that hold the same instance). */
export class MemoryKeyValue implements WatchableKeyValue {
  private readonly entries = new Map<string, KvEntry>();
  private readonly watchers = new Set<(change: KvChange) => void>();
  private revision = 0;

  async get(key: string): Promise<KvEntry | undefined> {
    const e = this.entries.get(key);
    return e === undefined ? undefined : { value: e.value.slice(), revision: e.revision };
  }

  async create(key: string, value: Uint8Array): Promise<number | undefined> {
    if (this.entries.has(key)) return undefined;
    return this.write(key, value);
  }

  async update(key: string, value: Uint8Array, revision: number): Promise<number | undefined> {
    if (this.entries.get(key)?.revision !== revision) return undefined;
    return this.write(key, value);
  }

  async put(key: string, value: Uint8Array): Promise<number> {
    return this.write(key, value);
  }

  async delete(key: string): Promise<void> {
    if (this.entries.delete(key)) this.emit(key, ++this.revision, true);
  }

  async deleteIf(key: string, revision: number): Promise<boolean> {
    if (this.entries.get(key)?.revision !== revision) return false;
    await this.delete(key);
    return true;
  }

  async watch(onChange: (change: KvChange) => void): Promise<() => void> {
    this.watchers.add(onChange);
    return () => this.watchers.delete(onChange);
  }

  /** Deleted keys leave nothing behind here. */
  async purgeDeletes(): Promise<number> {
    return 0;
  }

  private emit(key: string, revision: number, deleted: boolean): void {
    for (const w of this.watchers) {
      try {
        w({ key, revision, deleted });
      } catch {
        // a watcher's failure is its own; the write stands
      }
    }
  }

  async keys(prefix: string): Promise<string[]> {
    return [...this.entries.keys()].filter((k) => k.startsWith(prefix));
  }

  private write(key: string, value: Uint8Array): number {
    this.revision += 1;
    this.entries.set(key, { value: value.slice(), revision: this.revision });
    this.emit(key, this.revision, false);
    return this.revision;
  }
}
