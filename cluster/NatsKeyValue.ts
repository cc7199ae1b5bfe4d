// The KeyValueStore seam over a JetStream KV bucket: create-if-absent and revision-checked updates give
// exactly one winner when several nodes race for the same key.
import type { KV, KvWatchInclude } from '@nats-io/kv';
import { HiveError, TooLargeError, UnavailableError } from '../protocols/errors.js';
import type { KvChange, KvEntry, WatchableKeyValue } from '../runtime/KeyValueStore.js';
import type { NatsTransport } from './NatsTransport.js';
import { replicasHint } from './jsReplicas.js';

/** A JetStream KV bucket as a {@link KeyValueStore}. */
export class NatsKeyValue implements WatchableKeyValue {
  private constructor(
    private readonly kv: KV,
    private readonly bucket: string,
    private readonly timeoutMs: number | undefined,
  ) {}

  /**
   * Opens (creating when missing) the bucket `bucket`, keeping `history` revisions per key; `timeoutMs` bounds
   * each call (the client's default is 5 s).
   */
  static async open(transport: NatsTransport, bucket: string, options: { history?: number; ttlMs?: number; timeoutMs?: number } = {}): Promise<NatsKeyValue> {
    try {
      const opts: Record<string, unknown> = { history: options.history ?? 1 };
      if (options.ttlMs !== undefined) opts['ttl'] = options.ttlMs;
      if (options.timeoutMs !== undefined) opts['timeout'] = options.timeoutMs;
      return new NatsKeyValue(await transport.kv(bucket, opts), bucket, options.timeoutMs);
    } catch (err) {
      throw new UnavailableError(`cannot open JetStream KV bucket "${bucket}" (is JetStream enabled on the server?): ${replicasHint(err, transport.jsReplicas)}`, { cause: err });
    }
  }

  async get(key: string): Promise<KvEntry | undefined> {
    let e: Awaited<ReturnType<KV['get']>>;
    try {
      e = await this.bounded(this.kv.get(key));
    } catch (err) {
      throw this.failure('read', key, err);
    }
    if (e === null || e.operation !== 'PUT') return undefined;
    return { value: e.value, revision: e.revision };
  }

  async create(key: string, value: Uint8Array): Promise<number | undefined> {
    try {
      return await this.kv.create(key, value);
    } catch (err) {
      if (isConflict(err)) return undefined;
      throw this.failure('create', key, err);
    }
  }

  async update(key: string, value: Uint8Array, revision: number): Promise<number | undefined> {
    try {
      return await this.kv.update(key, value, revision);
    } catch (err) {
      if (isConflict(err)) return undefined;
      throw this.failure('update', key, err);
    }
  }

  async put(key: string, value: Uint8Array): Promise<number> {
    try {
      return await this.kv.put(key, value);
    } catch (err) {
      throw this.failure('write', key, err);
    }
  }

  async delete(key: string): Promise<void> {
    try {
      await this.kv.delete(key);
    } catch (err) {
      throw this.failure('delete', key, err);
    }
  }

  async deleteIf(key: string, revision: number): Promise<boolean> {
    try {
      await this.kv.delete(key, { previousSeq: revision });
      return true;
    } catch (err) {
      if (isConflict(err)) return false;
      throw this.failure('delete', key, err);
    }
  }

  /** An ordered consumer on the bucket from now on (updates only, deletes included). */
  async watch(onChange: (change: KvChange) => void, onEnd: (err: unknown) => void): Promise<() => void> {
    let it: Awaited<ReturnType<KV['watch']>>;
    try {
      it = await this.kv.watch({ key: '>', include: 'updates' as KvWatchInclude });
    } catch (err) {
      throw this.failure('watch', '>', err);
    }
    let stopped = false;
    void (async () => {
      try {
        for await (const e of it) onChange({ key: e.key, revision: e.revision, deleted: e.operation !== 'PUT' });
        if (!stopped) onEnd(undefined);
      } catch (err) {
        if (!stopped) onEnd(err);
      }
    })();
    return () => {
      stopped = true;
      it.stop();
    };
  }

  async purgeDeletes(olderThanMs: number): Promise<number> {
    try {
      const r = await (this.kv as KV & { purgeDeletes(olderMillis?: number): Promise<{ purged: number }> }).purgeDeletes(olderThanMs);
      return r.purged;
    } catch (err) {
      throw this.failure('purge deleted keys of', '>', err);
    }
  }

  /** `p`, failing after `timeoutMs` when set (a direct get from a deleted bucket's stream waits out the client's own 5 s). */
  private bounded<T>(p: Promise<T>): Promise<T> {
    const ms = this.timeoutMs;
    if (ms === undefined) return p;
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timeout after ${ms} ms`)), ms);
      timer.unref();
    });
    return Promise.race([p, late]).finally(() => clearTimeout(timer));
  }

  /** The client's error as a typed one: TOO_LARGE over max_payload, else UNAVAILABLE (the bucket or JetStream is gone). */
  private failure(op: string, key: string, err: unknown): HiveError {
    if (err instanceof HiveError) return err;
    const message = err instanceof Error ? err.message : String(err);
    const details = { bucket: this.bucket, key };
    if (/max_payload|maximum payload|message size exceeds/i.test(message)) {
      return new TooLargeError(`cannot ${op} "${key}" in KV bucket "${this.bucket}": the value exceeds the server's max_payload`, { cause: err, details });
    }
    return new UnavailableError(`cannot ${op} "${key}" in KV bucket "${this.bucket}": ${message}`, { cause: err, details });
  }

  async keys(prefix: string): Promise<string[]> {
    const out: string[] = [];
    for await (const k of await this.kv.keys(`${prefix}>`)) out.push(k);
    return out;
  }
}

function isConflict(err: unknown): boolean {
  const m = err instanceof Error ? err.message : String(err);
  return /wrong last sequence|key exists|10071/i.test(m);
}
