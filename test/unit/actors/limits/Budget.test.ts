// Budgets on the simulated clock over a shared in-memory KV (two handles stand for two nodes).
import { describe, expect, it } from 'vitest';
import { Budget } from '../../../../actors/limits/Budget.js';
import { BudgetExhaustedError } from '../../../../protocols/errors.js';
import { SimulatedClock } from '../../../../runtime/Clock.js';
import { MemoryKeyValue } from '../../../../runtime/KeyValueStore.js';
import { codeOf } from '../../../support/errors.js';

const DAY = 24 * 3600_000;

describe('Budget', () => {
  it('charges until spent, then refuses with BUDGET_EXHAUSTED; every node sees the same figure', async () => {
    const clock = new SimulatedClock(Date.UTC(2026, 10, 29, 12));
    const kv = new MemoryKeyValue();
    const a = new Budget('team', { kv, clock });
    const b = new Budget('team', { kv, clock });
    await a.define({ limit: 10, per: 'day' });
    expect(await a.charge(4)).toMatchObject({ spent: 4, remaining: 6, period: '2026-11-29' });
    expect(await b.charge(5)).toMatchObject({ spent: 9, remaining: 1 });
    // the charge that crosses the limit is recorded (the work was done); the next is refused
    expect(await a.charge(3)).toMatchObject({ spent: 12, remaining: 0 });
    const err = await b.charge(1).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BudgetExhaustedError);
    expect((err as BudgetExhaustedError).code).toBe('BUDGET_EXHAUSTED');
    expect((err as BudgetExhaustedError).details).toMatchObject({ budget: 'team', spent: 12, limit: 10, period: '2026-11-29' });
    expect(await codeOf(b.check())).toBe('BUDGET_EXHAUSTED');
    // a new UTC day starts from zero
    clock.advance(DAY);
    expect(await b.charge(1)).toMatchObject({ spent: 1, period: '2026-11-30' });
  });

  it('a total budget never resets; a monthly one resets with the month', async () => {
    const clock = new SimulatedClock(Date.UTC(2026, 10, 30, 23));
    const kv = new MemoryKeyValue();
    const total = new Budget('forever', { kv, clock });
    const month = new Budget('monthly', { kv, clock });
    await total.define({ limit: 2, per: 'total' });
    await month.define({ limit: 2, per: 'month' });
    await total.charge(2);
    await month.charge(2);
    clock.advance(2 * 3600_000); // December
    expect(await codeOf(total.charge(1))).toBe('BUDGET_EXHAUSTED');
    expect(await month.charge(1)).toMatchObject({ spent: 1, period: '2026-12' });
  });

  it('redefining keeps what was spent this period; bad options and costs name what is wrong', async () => {
    const clock = new SimulatedClock(0);
    const kv = new MemoryKeyValue();
    const a = new Budget('x', { kv, clock });
    await a.define({ limit: 5, per: 'total' });
    await a.charge(3);
    await a.define({ limit: 4, per: 'total' });
    expect(await a.status()).toMatchObject({ spent: 3, remaining: 1, limit: 4 });
    expect(() => a.define({ limit: -1, per: 'day' })).toThrow(/budget\.limit/);
    expect(() => a.define({ limit: 1, per: 'week' as 'day' })).toThrow(/budget\.per/);
    expect(await codeOf(a.charge(Number.NaN))).toBe('INVALID_ARGUMENT');
    expect(await codeOf(new Budget('undefined-one', { kv, clock }).charge(1))).toBe('INVALID_ARGUMENT');
  });
});
