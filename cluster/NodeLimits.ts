// NodeLimits: a node's cluster-wide limiters and budgets. Their shared state lives in the JetStream KV
// bucket `hive_<cluster>_limits` (file storage: it survives node and server restarts); in-process nodes on
// one bus share an in-memory store instead. Handles are made once per name per node.
import { Budget } from '../actors/limits/Budget.js';
import { Limiter } from '../actors/limits/Limiter.js';
import type { BudgetOptions, LimiterOptions } from '../actors/limits/limitOptions.js';
import { assertToken } from '../protocols/subjects.js';
import type { Clock } from '../runtime/Clock.js';
import { InProcTransport } from '../runtime/InProcTransport.js';
import { MemoryKeyValue, type KeyValueStore, type KvEntry } from '../runtime/KeyValueStore.js';
import type { Logger } from '../runtime/logger.js';
import type { MetricsRegistry } from '../runtime/metrics.js';
import type { Transport } from '../runtime/Transport.js';
import { NatsKeyValue } from './NatsKeyValue.js';
import { NatsTransport } from './NatsTransport.js';

const memoryStores = new WeakMap<object, MemoryKeyValue>();

/** A store opened on first use; an open that failed is tried again on the next call. */
class LazyKeyValue implements KeyValueStore {
  private opening: Promise<KeyValueStore> | undefined;
  constructor(private readonly open: () => Promise<KeyValueStore>) {}
  private store(): Promise<KeyValueStore> {
    this.opening ??= this.open().catch((err: unknown) => {
      this.opening = undefined;
      throw err;
    });
    return this.opening;
  }
  async get(key: string): Promise<KvEntry | undefined> {
    return (await this.store()).get(key);
  }
  async create(key: string, value: Uint8Array): Promise<number | undefined> {
    return (await this.store()).create(key, value);
  }
  async update(key: string, value: Uint8Array, revision: number): Promise<number | undefined> {
    return (await this.store()).update(key, value, revision);
  }
  async put(key: string, value: Uint8Array): Promise<number> {
    return (await this.store()).put(key, value);
  }
  async delete(key: string): Promise<void> {
    return (await this.store()).delete(key);
  }
  async keys(prefix: string): Promise<string[]> {
    return (await this.store()).keys(prefix);
  }
}

/** One node's limiters and budgets. */
export class NodeLimits {
  private readonly limiters = new Map<string, Limiter>();
  private readonly budgets = new Map<string, Budget>();
  private readonly kv: KeyValueStore;

  constructor(private readonly deps: { cluster: string; node: string; transport: Transport; clock: Clock; logger: Logger; metrics: MetricsRegistry }) {
    const { transport, cluster } = deps;
    if (transport instanceof NatsTransport) this.kv = new LazyKeyValue(() => NatsKeyValue.open(transport, `hive_${cluster}_limits`));
    else {
      const key = transport instanceof InProcTransport ? transport.bus : transport;
      let kv = memoryStores.get(key);
      if (kv === undefined) memoryStores.set(key, (kv = new MemoryKeyValue()));
      this.kv = kv;
    }
  }

  /** The limiter `name`; with options, (re)defines it for the whole cluster. */
  limiter(name: string, options?: LimiterOptions): Limiter {
    assertToken(name, 'limiter name');
    let l = this.limiters.get(name);
    if (l === undefined) {
      const waits = this.deps.metrics.latencyHistogram('hive_limiter_wait_seconds', 'Time a take waited for a permit', ['limiter']).labels(name);
      l = new Limiter({ name, node: this.deps.node, kv: this.kv, clock: this.deps.clock, logger: this.deps.logger, waits });
    }
    if (options !== undefined) l.define(options);
    this.limiters.set(name, l);
    return l;
  }

  /** The budget `name`; with options, (re)defines it for the whole cluster (resolve `budget.define` to wait for that). */
  budget(name: string, options?: BudgetOptions): Budget {
    assertToken(name, 'budget name');
    let b = this.budgets.get(name);
    if (b === undefined) b = new Budget(name, { kv: this.kv, clock: this.deps.clock });
    if (options !== undefined) {
      b.define(options).catch((err: unknown) => this.deps.logger.warn({ err, budget: name }, 'could not store a budget definition yet (charges store it)'));
    }
    this.budgets.set(name, b);
    return b;
  }

  /** Stops every limiter (waiters are rejected, held slots given back). */
  async stop(): Promise<void> {
    await Promise.all([...this.limiters.values()].map((l) => l.stop()));
  }
}
