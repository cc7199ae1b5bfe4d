// MemoryClaim: one memory per cluster, whichever node answers. The cluster subject `hive.<cluster>.memory`
// belongs to one store: the first node with memory claims it in the JetStream KV bucket
// `hive_<cluster>_memory` (key `owner`: its store identity and node id, create-if-absent). Nodes whose store
// is the claimed one — nodes sharing one PostgreSQL database and schema — serve the cluster subject together
// (queue group `hive-memory`); a node with a different store (its own embedded PGlite) does not answer for the
// cluster, only for itself at `hive.<cluster>.actor.memory-<node>`, and takes the claim over when the owner is
// no longer live (checked every `checkMs`). An embedded owner gives the claim up when it stops.
import { decodeJson, encodeJson } from '../protocols/frame.js';
import type { Clock, TimerHandle } from '../runtime/Clock.js';
import type { KeyValueStore } from '../runtime/KeyValueStore.js';
import type { Logger } from '../runtime/logger.js';

/** The KV key of the cluster's memory owner. */
export const MEMORY_OWNER_KEY = 'owner';

interface Owner {
  store: string;
  node: string;
}

function parseOwner(value: Uint8Array): Owner | undefined {
  try {
    const v = decodeJson(value, 64 * 1024) as Partial<Owner>;
    return typeof v?.store === 'string' && typeof v.node === 'string' ? { store: v.store, node: v.node } : undefined;
  } catch {
    return undefined;
  }
}

/** What a claim needs from its node. */
export interface MemoryClaimDeps {
  kv: KeyValueStore;
  /** This node's store identity (database and schema, or the embedded folder). */
  store: string;
  /** True when the store is shared by whoever names the same identity (PostgreSQL); false for an embedded one. */
  shared: boolean;
  node: string;
  /** Whether `node` is live (waits while this node's view of the cluster is still arriving). */
  isLive: (node: string) => Promise<boolean>;
  clock: Clock;
  logger: Logger;
  checkMs: number;
  /** Starts or stops serving the cluster subject. */
  serve: (on: boolean) => void;
}

/** This node's part in who answers for the cluster's memory. */
export class MemoryClaim {
  private serving = false;
  private timer: TimerHandle | undefined;
  private stopped = false;
  /** The owner as last read (for status). */
  owner: Owner | undefined;

  constructor(private readonly deps: MemoryClaimDeps) {}

  /** Claims or joins the cluster's memory, then re-checks every `checkMs`. */
  async start(): Promise<void> {
    await this.check();
    this.schedule();
  }

  /** True while this node answers on the cluster subject. */
  get answersForCluster(): boolean {
    return this.serving;
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = this.deps.clock.setTimeout(() => {
      this.check().then(
        () => this.schedule(),
        (err: unknown) => {
          this.deps.logger.warn({ err }, 'memory: could not check the cluster memory owner');
          this.schedule();
        },
      );
    }, this.deps.checkMs);
  }

  private set(on: boolean): void {
    if (on === this.serving || this.stopped) return;
    this.serving = on;
    this.deps.serve(on);
  }

  private async check(): Promise<void> {
    const { kv, store, node } = this.deps;
    const mine = encodeJson({ store, node });
    const entry = await kv.get(MEMORY_OWNER_KEY);
    if (entry === undefined) {
      const rev = await kv.create(MEMORY_OWNER_KEY, mine);
      if (rev !== undefined) {
        this.owner = { store, node };
        this.set(true);
        return;
      }
      return this.check();
    }
    const owner = parseOwner(entry.value);
    if (owner !== undefined && owner.store === store) {
      this.owner = owner;
      this.set(true);
      return;
    }
    // the claim is this node's own from before (restarted on another store), or its owner is gone
    if (owner === undefined || owner.node === node || !(await this.deps.isLive(owner.node))) {
      // the owner is gone (or the claim unreadable): this node's store becomes the cluster's memory
      if ((await kv.update(MEMORY_OWNER_KEY, mine, entry.revision)) !== undefined) {
        this.deps.logger.warn({ previous: owner }, 'memory: the previous owner of the cluster memory is gone; this node answers for the cluster now');
        this.owner = { store, node };
        this.set(true);
      }
      return;
    }
    if (this.owner?.store !== owner.store || this.serving) {
      this.deps.logger.warn({ owner }, `memory: the cluster's memory is node ${owner.node}'s store; this node's own store answers only at its actor subject`);
    }
    this.owner = owner;
    this.set(false);
  }

  /** Stops checking; an embedded owner gives the claim up so another node can take it at once. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer !== undefined) this.deps.clock.clearTimeout(this.timer);
    if (!this.deps.shared && this.owner?.node === this.deps.node && this.owner.store === this.deps.store) {
      await this.deps.kv.delete(MEMORY_OWNER_KEY).catch(() => undefined);
    }
  }
}
