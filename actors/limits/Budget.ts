// Budget: one node's handle on a cluster-wide spending limit, kept in one KV key (its definition, the
// current period and what was spent in it) and charged with compare-and-set, so every node sees the same
// figure and it survives restarts (the KV is durable). A charge is refused with BUDGET_EXHAUSTED once the
// period's spending has reached the limit; the charge that crosses it is recorded (the work was done).
import { BudgetExhaustedError, InvalidArgumentError, UnavailableError } from '../../protocols/errors.js';
import { decodeJson, encodeJson } from '../../protocols/frame.js';
import type { Clock } from '../../runtime/Clock.js';
import type { KeyValueStore } from '../../runtime/KeyValueStore.js';
import { periodOf, resolveBudgetOptions, type BudgetOptions } from './limitOptions.js';

/** Where a budget stands. */
export interface BudgetStatus {
  name: string;
  limit: number;
  per: BudgetOptions['per'];
  /** The current period (`2026-11-29`, `2026-11` or `total`). */
  period: string;
  spent: number;
  remaining: number;
}

interface StoredBudget {
  def: BudgetOptions;
  period: string;
  spent: number;
}

const MAX_BYTES = 64 * 1024;
const MAX_ROUNDS = 32;

/** Parses a stored budget (untrusted bytes); undefined when malformed. */
function parse(bytes: Uint8Array): StoredBudget | undefined {
  try {
    const v = decodeJson(bytes, MAX_BYTES) as Record<string, unknown>;
    const def = resolveBudgetOptions(v['def'] as BudgetOptions);
    const spent = v['spent'];
    const period = v['period'];
    if (typeof spent !== 'number' || !Number.isFinite(spent) || spent < 0 || typeof period !== 'string' || period.length > 16) return undefined;
    return { def, period, spent };
  } catch {
    return undefined;
  }
}

/** One node's handle on the cluster-wide budget `name`. */
export class Budget {
  private readonly key: string;
  /** The definition given on this node, used when the cluster has none stored yet. */
  private localDef: BudgetOptions | undefined;

  constructor(
    readonly name: string,
    private readonly deps: { kv: KeyValueStore; clock: Clock },
  ) {
    this.key = `bud.${name}`;
  }

  /**
   * Sets (or changes, for every node) the budget's limit and period; what was spent this period stays.
   * Validated at once (`INVALID_CONFIG` naming the bad option); resolves once stored.
   */
  define(options: BudgetOptions): Promise<void> {
    const def = resolveBudgetOptions(options);
    this.localDef = def;
    return this.store(def);
  }

  private async store(def: BudgetOptions): Promise<void> {
    await this.change((cur, now) => {
      const period = periodOf(def.per, now);
      const spent = cur !== undefined && cur.def.per === def.per && cur.period === period ? cur.spent : 0;
      if (cur !== undefined && cur.def.limit === def.limit && cur.def.per === def.per) return undefined;
      return { def, period, spent };
    });
  }

  /**
   * Charges `cost` to the current period and resolves with where the budget stands. Rejects with
   * `BUDGET_EXHAUSTED` (charging nothing) when the period's spending has already reached the limit.
   */
  async charge(cost: number): Promise<BudgetStatus> {
    if (typeof cost !== 'number' || !Number.isFinite(cost) || cost < 0) {
      throw new InvalidArgumentError(`budget "${this.name}": charge(cost) needs a finite number >= 0, got ${String(cost)}`, { details: { argument: 'cost' } });
    }
    const stored = await this.change((cur, now) => {
      const b = this.current(cur, now);
      if (b.spent >= b.def.limit) throw this.exhausted(b);
      return { ...b, spent: b.spent + cost };
    });
    return this.statusOf(stored);
  }

  /** Rejects with `BUDGET_EXHAUSTED` when the current period is spent (check before an expensive call). */
  async check(): Promise<BudgetStatus> {
    const s = await this.status();
    if (s.remaining <= 0) throw new BudgetExhaustedError(`budget "${this.name}" is spent for ${s.period} (${s.spent} of ${s.limit})`, { details: { ...s } });
    return s;
  }

  /** Where the budget stands now. */
  async status(): Promise<BudgetStatus> {
    const entry = await this.read();
    return this.statusOf(this.current(entry?.stored, this.deps.clock.now()));
  }

  private exhausted(b: StoredBudget): BudgetExhaustedError {
    return new BudgetExhaustedError(`budget "${this.name}" is spent for ${b.period} (${b.spent} of ${b.def.limit})`, {
      details: { budget: this.name, period: b.period, spent: b.spent, limit: b.def.limit },
    });
  }

  private current(given: StoredBudget | undefined, now: number): StoredBudget {
    const cur = given ?? (this.localDef === undefined ? undefined : { def: this.localDef, period: periodOf(this.localDef.per, now), spent: 0 });
    if (cur === undefined) throw new InvalidArgumentError(`no budget named "${this.name}" is defined in this cluster (define it with hive.budget(name, { limit, per }))`, { details: { argument: 'name', budget: this.name } });
    const period = periodOf(cur.def.per, now);
    return period === cur.period ? cur : { def: cur.def, period, spent: 0 };
  }

  private statusOf(b: StoredBudget): BudgetStatus {
    return { name: this.name, limit: b.def.limit, per: b.def.per, period: b.period, spent: b.spent, remaining: Math.max(0, b.def.limit - b.spent) };
  }

  private async read(): Promise<{ stored: StoredBudget | undefined; revision: number } | undefined> {
    const e = await this.deps.kv.get(this.key);
    return e === undefined ? undefined : { stored: parse(e.value), revision: e.revision };
  }

  /** Read, change, compare-and-set; retried when another node wrote first. `fn` returning undefined writes nothing. */
  private async change(fn: (cur: StoredBudget | undefined, now: number) => StoredBudget | undefined): Promise<StoredBudget> {
    for (let i = 0; i < MAX_ROUNDS; i++) {
      const e = await this.read();
      const now = this.deps.clock.now();
      const next = fn(e?.stored, now);
      if (next === undefined) return this.current(e?.stored, now);
      const bytes = encodeJson(next);
      const rev = e === undefined ? await this.deps.kv.create(this.key, bytes) : await this.deps.kv.update(this.key, bytes, e.revision);
      if (rev !== undefined) return next;
    }
    throw new UnavailableError(`budget "${this.name}": too many concurrent charges, try again`);
  }
}
