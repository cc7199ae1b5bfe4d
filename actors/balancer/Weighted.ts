// Weighted random choice with Vose's alias table: O(1) per decision, the table rebuilt lazily (O(n), once)
// on the first pick after membership, liveness or weights changed. Load updates never rebuild it.
import { BaseStrategy, Changed, type AgentRecord, type BaseStrategyOptions } from './BaseStrategy.js';

/** Alias-table draws before falling back to an exact scan of the available agents (see {@link Weighted}). */
const MAX_REJECTIONS = 16;

/**
 * Picks live agents with probability proportional to `weight` (agents of weight 0 are never picked).
 *
 * The alias table covers live agents only; when capacity is respected, a drawn agent at capacity is
 * rejected and the draw repeated (which samples exactly the weights of the agents with room). After
 * {@link MAX_REJECTIONS} rejections in a row (nearly all weight is at capacity) it scans the available
 * agents and draws among them by weight: exact, and cheap because few agents then have room.
 */
export class Weighted extends BaseStrategy {
  readonly name = 'weighted' as const;
  private members: AgentRecord[] = [];
  private prob = new Float64Array(0);
  private alias = new Int32Array(0);
  private dirty = true;

  constructor(options: BaseStrategyOptions = {}) {
    super(options);
  }

  pick(_key?: string): string | undefined {
    if (this.dirty) this.rebuild();
    const members = this.members;
    const n = members.length;
    if (n === 0) return undefined;
    const prob = this.prob;
    const alias = this.alias;
    for (let attempt = 0; attempt < MAX_REJECTIONS; attempt++) {
      const u = this.random() * n;
      const i = u | 0;
      const rec = u - i < prob[i] ? members[i] : members[alias[i]];
      if (!this.respectCapacity || rec.load < rec.capacity) return rec.id;
    }
    return this.scan();
  }

  protected override onAdd(_rec: AgentRecord): void {
    this.dirty = true;
  }

  protected override onRemove(_rec: AgentRecord): void {
    this.dirty = true;
  }

  protected override onChange(_rec: AgentRecord, changed: number): void {
    if ((changed & (Changed.weight | Changed.live)) !== 0) this.dirty = true;
  }

  /** Exact weighted draw over the available agents (the fallback when rejection keeps failing). */
  private scan(): string | undefined {
    let total = 0;
    for (const rec of this.pool) total += rec.weight;
    if (total <= 0) return undefined;
    let r = this.random() * total;
    let last: AgentRecord | undefined;
    for (const rec of this.pool) {
      if (rec.weight <= 0) continue;
      last = rec;
      r -= rec.weight;
      if (r < 0) return rec.id;
    }
    return last?.id;
  }

  /** Vose's alias method over the live agents with weight > 0. O(n). */
  private rebuild(): void {
    this.dirty = false;
    const members: AgentRecord[] = [];
    let total = 0;
    for (const rec of this.agents.values()) {
      if (rec.live && rec.weight > 0) {
        members.push(rec);
        total += rec.weight;
      }
    }
    const n = members.length;
    const prob = new Float64Array(n);
    const alias = new Int32Array(n);
    const scaled = new Float64Array(n);
    const small = new Int32Array(n);
    const large = new Int32Array(n);
    let ns = 0;
    let nl = 0;
    for (let i = 0; i < n; i++) {
      const p = (members[i].weight * n) / total;
      scaled[i] = p;
      if (p < 1) small[ns++] = i;
      else large[nl++] = i;
    }
    while (ns > 0 && nl > 0) {
      const s = small[--ns];
      const l = large[--nl];
      prob[s] = scaled[s]!;
      alias[s] = l;
      const rest = scaled[l] + scaled[s] - 1;
      scaled[l] = rest;
      if (rest < 1) small[ns++] = l;
      else large[nl++] = l;
    }
    // What remains has probability 1 (up to rounding).
    while (nl > 0) {
      const l = large[--nl];
      prob[l] = 1;
      alias[l] = l;
    }
    while (ns > 0) {
      const s = small[--ns];
      prob[s] = 1;
      alias[s] = s;
    }
    this.members = members;
    this.prob = prob;
    this.alias = alias;
  }
}
