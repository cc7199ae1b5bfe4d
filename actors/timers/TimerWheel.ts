// TimerWheel: the pending timers of the node that owns them, in due order, with one clock timer armed at
// the earliest (re-armed at most an hour ahead, since a host timer cannot wait a year). Pure bookkeeping:
// what firing does is the caller's.
import type { Clock, TimerHandle } from '../../runtime/Clock.js';

/** The longest a single clock timer is armed for; later timers are re-armed when it fires. */
const MAX_ARM_MS = 3600_000;

/** Pending timers by id, fired in due order. */
export class TimerWheel {
  private readonly due = new Map<string, number>();
  private order: Array<{ id: string; at: number }> = [];
  private armed: TimerHandle | undefined;
  private armedAt = Infinity;

  constructor(
    private readonly clock: Clock,
    private readonly fire: (id: string) => void,
  ) {}

  /** Timers pending. */
  get size(): number {
    return this.due.size;
  }

  has(id: string): boolean {
    return this.due.has(id);
  }

  /** Adds or moves timer `id` to `at`. */
  set(id: string, at: number): void {
    if (this.due.get(id) === at) return;
    if (this.due.has(id)) this.order = this.order.filter((e) => e.id !== id);
    this.due.set(id, at);
    // binary insertion keeps `order` sorted by due time
    let lo = 0;
    let hi = this.order.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if ((this.order[mid] as { at: number }).at <= at) lo = mid + 1;
      else hi = mid;
    }
    this.order.splice(lo, 0, { id, at });
    this.arm();
  }

  delete(id: string): void {
    if (!this.due.delete(id)) return;
    this.order = this.order.filter((e) => e.id !== id);
  }

  /** Forgets every timer (the node is no longer the owner). */
  clear(): void {
    this.due.clear();
    this.order = [];
    if (this.armed !== undefined) this.clock.clearTimeout(this.armed);
    this.armed = undefined;
    this.armedAt = Infinity;
  }

  private arm(): void {
    const next = this.order[0];
    if (next === undefined) return;
    const now = this.clock.now();
    const at = Math.min(next.at, now + MAX_ARM_MS);
    if (this.armed !== undefined && this.armedAt <= at) return;
    if (this.armed !== undefined) this.clock.clearTimeout(this.armed);
    this.armedAt = at;
    this.armed = this.clock.setTimeout(this.tick, Math.max(0, at - now));
  }

  private tick = (): void => {
    this.armed = undefined;
    this.armedAt = Infinity;
    const now = this.clock.now();
    while (this.order.length > 0 && (this.order[0] as { at: number }).at <= now) {
      const { id } = this.order.shift() as { id: string };
      this.due.delete(id);
      this.fire(id);
    }
    this.arm();
  };
}
