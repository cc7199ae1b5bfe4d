// Least loaded: an indexed binary min-heap of the live agents keyed by utilization (load / capacity).
// Decision O(1) to find, O(log n) to rotate among ties; each load update O(log n).
import { BaseStrategy, Changed, type AgentRecord, type BaseStrategyOptions } from './BaseStrategy.js';

/**
 * Picks the live agent with the lowest utilization: `load / capacity` when capacity is finite, plain
 * `load` otherwise (give all agents of a pool a capacity, or none). When capacity is respected, an agent
 * at capacity scores `Infinity`, so the root of the heap is full only when every agent is.
 *
 * Ties go to the agent least recently picked or updated, so equally loaded agents take turns even when
 * the caller reports load only after a task finishes.
 */
export class LeastLoaded extends BaseStrategy {
  readonly name = 'least-loaded' as const;
  private readonly heap: AgentRecord[] = [];
  private seq = 0;

  constructor(options: BaseStrategyOptions = {}) {
    super(options);
  }

  pick(_key?: string): string | undefined {
    const root = this.heap[0];
    if (root === undefined || root.score === Infinity) return undefined;
    // Rotate among equals: the chosen agent goes behind agents of the same score.
    root.seq = ++this.seq;
    this.siftDown(0);
    return root.id;
  }

  protected override onAdd(rec: AgentRecord): void {
    rec.index = -1;
    if (rec.live) this.insert(rec);
  }

  protected override onRemove(rec: AgentRecord): void {
    if (rec.index >= 0) this.delete(rec);
  }

  protected override onChange(rec: AgentRecord, changed: number): void {
    if ((changed & Changed.live) !== 0) {
      if (rec.live && rec.index < 0) this.insert(rec);
      else if (!rec.live && rec.index >= 0) this.delete(rec);
      return;
    }
    if (rec.index < 0 || (changed & (Changed.load | Changed.capacity)) === 0) return;
    const before = rec.score;
    rec.score = this.scoreOf(rec);
    rec.seq = ++this.seq;
    if (rec.score < before) this.siftUp(rec.index);
    else this.siftDown(rec.index);
  }

  private scoreOf(rec: AgentRecord): number {
    if (this.respectCapacity && rec.load >= rec.capacity) return Infinity;
    return rec.capacity === Infinity ? rec.load : rec.load / rec.capacity;
  }

  private insert(rec: AgentRecord): void {
    rec.score = this.scoreOf(rec);
    rec.seq = ++this.seq;
    rec.index = this.heap.length;
    this.heap.push(rec);
    this.siftUp(rec.index);
  }

  private delete(rec: AgentRecord): void {
    const heap = this.heap;
    const i = rec.index;
    const last = heap.pop()!;
    rec.index = -1;
    if (last === rec) return;
    heap[i] = last;
    last.index = i;
    this.siftUp(i);
    this.siftDown(last.index);
  }

  private static less(a: AgentRecord, b: AgentRecord): boolean {
    return a.score < b.score || (a.score === b.score && a.seq < b.seq);
  }

  private siftUp(i: number): void {
    const heap = this.heap;
    const rec = heap[i];
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const p = heap[parent];
      if (!LeastLoaded.less(rec, p)) break;
      heap[i] = p;
      p.index = i;
      i = parent;
    }
    heap[i] = rec;
    rec.index = i;
  }

  private siftDown(i: number): void {
    const heap = this.heap;
    const n = heap.length;
    const rec = heap[i];
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      let c = l;
      let child = heap[l];
      if (r < n && LeastLoaded.less(heap[r], child)) {
        c = r;
        child = heap[r]!;
      }
      if (!LeastLoaded.less(child, rec)) break;
      heap[i] = child;
      child.index = i;
      i = c;
    }
    heap[i] = rec;
    rec.index = i;
  }
}
