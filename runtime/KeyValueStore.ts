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

/** An in-memory {@link KeyValueStore} (shared by the in-process nodes that hold the same instance). */
export class MemoryKeyValue implements KeyValueStore {
  private readonly entries = new Map<string, KvEntry>();
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
    this.entries.delete(key);
  }

  async keys(prefix: string): Promise<string[]> {
    return [...this.entries.keys()].filter((k) => k.startsWith(prefix));
  }

  private write(key: string, value: Uint8Array): number {
    this.revision += 1;
    this.entries.set(key, { value: value.slice(), revision: this.revision });
    return this.revision;
  }
}
