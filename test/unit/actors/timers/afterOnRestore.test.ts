// What the README says about xstate `after` on a virtual actor's failover: the actor is re-activated from its
// persisted snapshot, and a restored snapshot does not re-run entry actions, so a pending `after` delay is
// gone — the state stays where it was. (Waits that must survive use hive.schedule.)
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createActor, setup } from 'xstate';

afterEach(() => {
  vi.useRealTimers();
});

describe('xstate after across a restore from a persisted snapshot', () => {
  it('does not fire after the restore (it does in the original actor)', () => {
    vi.useFakeTimers();
    const machine = setup({}).createMachine({ initial: 'waiting', states: { waiting: { after: { 1000: 'escalated' } }, escalated: {} } });
    const original = createActor(machine).start();
    const persisted = original.getPersistedSnapshot();
    const restored = createActor(machine, { snapshot: persisted }).start();
    original.stop(); // its node died
    vi.advanceTimersByTime(5000);
    expect(restored.getSnapshot().value).toBe('waiting');
    const control = createActor(machine).start();
    vi.advanceTimersByTime(5000);
    expect(control.getSnapshot().value).toBe('escalated');
  });
});
