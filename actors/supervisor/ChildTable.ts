// The supervisor's bookkeeping of its children: one record per child in start order (a Map keeps insertion
// order, so adopting a child is O(1) even for a node's root supervising 100,000 actors). Owned by the
// supervisor machine and mutated only by its actions.
import type { AnyActorLogic, Snapshot } from 'xstate';
import type { SpawnOptions } from '../../runtime/ActorSystem.js';
import type { TimerHandle } from '../../runtime/Clock.js';
import type { Backoff } from '../../runtime/Backoff.js';
import type { RestartFrom, RestartPolicy } from './strategy.js';

/** One child of a supervisor, as given to `hive.supervisor(name, { children })`. */
export interface ChildSpec {
  /** Actor id (a subject token, unique in the cluster). */
  id: string;
  /** The xstate machine (or any actor logic). */
  logic: AnyActorLogic;
  /** The machine's input (the same on every fresh restart). */
  input?: unknown;
  /** Default `permanent`. */
  restart?: RestartPolicy;
  /** Default `fresh`. */
  from?: RestartFrom;
  /** A label for status and metrics. */
  kind?: string;
  /** Mailbox capacity (default: the node's). */
  mailboxCapacity?: number;
  /** Not reachable over NATS. */
  localOnly?: boolean;
  /** Start from this persisted snapshot (and restart `fresh` from it too). */
  snapshot?: Snapshot<unknown>;
}

/** @internal A child spec with its policies filled in and its spawn options prepared. */
export interface ResolvedChildSpec {
  readonly id: string;
  readonly logic: AnyActorLogic;
  readonly restart: RestartPolicy;
  readonly from: RestartFrom;
  /** What the child is spawned with when it restarts fresh (includes `id`). */
  readonly spawn: SpawnOptions;
}

/** @internal Where a child is: up, or down and waiting for its restart. */
export type ChildStatus = 'running' | 'waiting';

/** @internal One supervised child. */
export class ChildRecord {
  status: ChildStatus = 'running';
  /** Clock time of the last (re)start. */
  startedAt: number;
  /** Restarts so far. */
  restarts = 0;
  /** Bumped at every restart decision, so a stale restart timer is recognised. */
  generation = 0;
  /** Created at the first failure. */
  backoff: Backoff | undefined = undefined;
  /** The pending restart timer while `waiting`. */
  timer: TimerHandle | undefined = undefined;
  /** `from: 'snapshot'` only: the last snapshot the child reached without error (kept by reference). */
  last: Snapshot<unknown> | undefined = undefined;
  /** The next restart ignores `last` (the child reached a final state). */
  nextFresh = false;

  constructor(
    readonly spec: ResolvedChildSpec,
    now: number,
    /** Spawn options of a start the supervisor's child host has yet to perform. */
    public pendingSpawn: SpawnOptions | undefined,
  ) {
    this.startedAt = now;
  }

  get id(): string {
    return this.spec.id;
  }
}

/** @internal The children of one supervisor, in start order. */
export class ChildTable {
  private readonly records = new Map<string, ChildRecord>();
  /** The child this supervisor is stopping right now (its `stopped` lifecycle event is not an external stop). */
  selfStopping: string | undefined = undefined;

  get size(): number {
    return this.records.size;
  }

  get(id: string): ChildRecord | undefined {
    return this.records.get(id);
  }

  has(id: string): boolean {
    return this.records.has(id);
  }

  add(record: ChildRecord): void {
    this.records.set(record.id, record);
  }

  delete(id: string): void {
    this.records.delete(id);
  }

  /** Children ids in start order. */
  ids(): string[] {
    return [...this.records.keys()];
  }

  values(): IterableIterator<ChildRecord> {
    return this.records.values();
  }

  /** Empties the table, returning the records in start order. */
  clear(): ChildRecord[] {
    const all = [...this.records.values()];
    this.records.clear();
    return all;
  }
}
