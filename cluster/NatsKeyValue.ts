// The KeyValueStore seam over a JetStream KV bucket: create-if-absent and revision-checked updates give
// exactly one winner when several nodes race for the same key.
import type { KV } from '@nats-io/kv';
import { UnavailableError } from '../protocols/errors.js';
import type { KeyValueStore, KvEntry } from '../runtime/KeyValueStore.js';
import type { NatsTransport } from './NatsTransport.js';

/** A JetStream KV bucket as a {@link KeyValueStore}. */
export class NatsKeyValue implements KeyValueStore {
  private constructor(private readonly kv: KV) {}

  /** Opens (creating when missing) the bucket `bucket`, keeping `history` revisions per key. */
  static async open(transport: NatsTransport, bucket: string, options: { history?: number; ttlMs?: number } = {}): Promise<NatsKeyValue> {
    try {
      const opts: Record<string, unknown> = { history: options.history ?? 1 };
      if (options.ttlMs !== undefined) opts['ttl'] = options.ttlMs;
      return new NatsKeyValue(await transport.kv(bucket, opts));
    } catch (err) {
      throw new UnavailableError(`cannot open JetStream KV bucket "${bucket}" (is JetStream enabled on the server?): ${(err as Error).message}`, { cause: err });
    }
  }

  async get(key: string): Promise<KvEntry | undefined> {
    const e = await this.kv.get(key);
    if (e === null || e.operation !== 'PUT') return undefined;
    return { value: e.value, revision: e.revision };
  }

  async create(key: string, value: Uint8Array): Promise<number | undefined> {
    try {
      return await this.kv.create(key, value);
    } catch (err) {
      if (isConflict(err)) return undefined;
      throw err;
    }
  }

  async update(key: string, value: Uint8Array, revision: number): Promise<number | undefined> {
    try {
      return await this.kv.update(key, value, revision);
    } catch (err) {
      if (isConflict(err)) return undefined;
      throw err;
    }
  }

  put(key: string, value: Uint8Array): Promise<number> {
    return this.kv.put(key, value);
  }

  delete(key: string): Promise<void> {
    return this.kv.delete(key);
  }
}

function isConflict(err: unknown): boolean {
  const m = err instanceof Error ? err.message : String(err);
  return /wrong last sequence|key exists|10071/i.test(m);
}
