// ActorCell: one spawned xstate actor on this node with its bounded mailbox (a FIFO the node's scheduler
// drains) and its status. Kept small: a node may hold 100,000 of these. The cell is also the xstate observer
// of its actor (its `error` and `complete` methods), so spawning allocates no closures per actor.
import type { AnyActorRef } from 'xstate';
import type { TransportSubscription } from './Transport.js';
import { estimateSize } from './estimateSize.js';

/** Lifecycle of an actor cell. */
export type CellStatus = 'running' | 'failed' | 'stopped';

/** What a cell reports its actor's failure and completion to (the actor system). */
export interface CellOwner {
  onActorError(cell: ActorCell, err: unknown): void;
  onActorComplete(cell: ActorCell): void;
}

/** @internal */
export class ActorCell {
  /** Pending events, oldest at `head`. Allocated on first use. */
  queue: object[] | undefined = undefined;
  /** Estimated bytes of each pending event (parallel to `queue`; allocated once a mailbox holds two). */
  sizes: number[] | undefined = undefined;
  /** Estimated bytes of the events waiting (the sum of `sizes`). */
  bytes = 0;
  head = 0;
  /** Already waiting in the scheduler's run queue. */
  scheduled = false;
  status: CellStatus = 'running';
  /** The event the actor is handling right now (so a failure can answer its ask). */
  current: object | undefined = undefined;
  subscription: TransportSubscription | undefined = undefined;
  /** Messages handled. */
  handled = 0;
  /** Asks the actor accepted but has not answered yet (answered when it stops or fails). */
  awaiting: Set<object> | undefined = undefined;

  constructor(
    readonly id: string,
    readonly kind: string,
    readonly actor: AnyActorRef,
    readonly capacity: number,
    /** Estimated bytes the mailbox holds behind its first event before senders get `OVERLOADED`. */
    readonly maxBytes: number,
    /** Whether an unchanged snapshot after an event means "not handled" (true for state machines). */
    readonly detectsUnhandled: boolean,
    private readonly owner: CellOwner,
  ) {}

  /** xstate observer: the actor failed. */
  error(err: unknown): void {
    this.owner.onActorError(this, err);
  }

  /** xstate observer: the actor completed (it reached a final state, or it was stopped). */
  complete(): void {
    this.owner.onActorComplete(this);
  }

  /** Events waiting. */
  get depth(): number {
    return this.queue === undefined ? 0 : this.queue.length - this.head;
  }

  /**
   * Appends an event; false when the mailbox is full (`capacity` events, or `maxBytes` estimated bytes). An
   * empty mailbox always takes one event, whatever its size, and costs no estimate (the common, fast case).
   */
  push(event: object): boolean {
    const q = (this.queue ??= []);
    const depth = q.length - this.head;
    if (depth === 0) {
      q.push(event);
      if (this.sizes !== undefined) this.sizes.push(0);
      return true;
    }
    if (depth >= this.capacity) return false;
    const size = estimateSize(event);
    if (this.bytes + size > this.maxBytes) return false;
    if (this.sizes === undefined) {
      this.sizes = new Array<number>(q.length).fill(0);
    }
    q.push(event);
    this.sizes.push(size);
    this.bytes += size;
    return true;
  }

  /** Removes and returns the oldest event. */
  shift(): object | undefined {
    const q = this.queue;
    if (q === undefined || this.head >= q.length) return undefined;
    const e = q[this.head];
    q[this.head] = undefined as never;
    const sizes = this.sizes;
    if (sizes !== undefined) this.bytes -= sizes[this.head];
    this.head += 1;
    if (this.head === q.length) {
      q.length = 0;
      if (sizes !== undefined) sizes.length = 0;
      this.bytes = 0;
      this.head = 0;
    } else if (this.head > 1024 && this.head * 2 > q.length) {
      q.splice(0, this.head);
      sizes?.splice(0, this.head);
      this.head = 0;
    }
    return e;
  }

  /** Empties the mailbox, returning what was in it. */
  drainAll(): object[] {
    const q = this.queue;
    if (q === undefined) return [];
    const rest = q.slice(this.head);
    this.queue = undefined;
    this.sizes = undefined;
    this.bytes = 0;
    this.head = 0;
    return rest;
  }
}
