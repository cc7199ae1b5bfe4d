import { describe, expect, it } from 'vitest';
import { ConsistentHash } from '../../../../actors/balancer/ConsistentHash.js';
import { hash32 } from '../../../../actors/balancer/hash32.js';

const KEYS = Array.from({ length: 20_000 }, (_, i) => `conversation-${i}`);

function mapping(s: ConsistentHash): string[] {
  return KEYS.map((k) => s.pick(k)!);
}

function ring(ids: string[], options: ConstructorParameters<typeof ConsistentHash>[0] = {}): ConsistentHash {
  const s = new ConsistentHash(options);
  for (const id of ids) s.add({ id });
  return s;
}

const AGENTS = Array.from({ length: 10 }, (_, i) => `agent-${i}`);

describe('ConsistentHash', () => {
  it('hash32 is a stable unsigned 32-bit hash', () => {
    expect(hash32('conversation-42')).toBe(hash32('conversation-42'));
    expect(hash32('a')).not.toBe(hash32('b'));
    for (const k of KEYS.slice(0, 100)) {
      const h = hash32(k);
      expect(Number.isInteger(h) && h >= 0 && h < 2 ** 32).toBe(true);
    }
  });

  it('maps the same key to the same agent, in any process (insertion order does not matter)', () => {
    const a = ring(AGENTS);
    const b = ring([...AGENTS].reverse());
    const first = mapping(a);
    expect(mapping(a)).toEqual(first);
    expect(mapping(b)).toEqual(first);
  });

  it('spreads keys over the agents', () => {
    const counts = new Map<string, number>();
    for (const id of mapping(ring(AGENTS))) counts.set(id, (counts.get(id) ?? 0) + 1);
    expect(counts.size).toBe(10);
    const mean = KEYS.length / 10;
    for (const c of counts.values()) {
      expect(c).toBeGreaterThan(mean * 0.7);
      expect(c).toBeLessThan(mean * 1.3);
    }
  });

  it('removing an agent moves only its keys; adding one moves keys only to it', () => {
    const s = ring(AGENTS);
    const before = mapping(s);
    s.remove('agent-3');
    const after = mapping(s);
    let moved = 0;
    for (let i = 0; i < KEYS.length; i++) {
      if (before[i] === 'agent-3') {
        expect(after[i]).not.toBe('agent-3');
        moved++;
      } else expect(after[i]).toBe(before[i]);
    }
    expect(moved).toBeGreaterThan(KEYS.length / 20);
    // The result is the same ring as one built without the agent.
    expect(after).toEqual(mapping(ring(AGENTS.filter((a) => a !== 'agent-3'))));

    s.add({ id: 'agent-new' });
    const grown = mapping(s);
    for (let i = 0; i < KEYS.length; i++) if (grown[i] !== after[i]) expect(grown[i]).toBe('agent-new');
  });

  it('sends a dead agent’s keys to the next agent and gives them back when it lives again', () => {
    const s = ring(AGENTS);
    const before = mapping(s);
    s.update('agent-5', { live: false });
    const during = mapping(s);
    for (let i = 0; i < KEYS.length; i++) {
      if (before[i] === 'agent-5') expect(during[i]).not.toBe('agent-5');
      else expect(during[i]).toBe(before[i]);
    }
    s.update('agent-5', { live: true });
    expect(mapping(s)).toEqual(before);
  });

  it('spills a full agent’s keys when capacity is respected, keeps strict affinity when not', () => {
    const bounded = ring(AGENTS);
    const strict = ring(AGENTS, { respectCapacity: false });
    const key = KEYS[0];
    const home = bounded.pick(key)!;
    bounded.update(home, { capacity: 1, load: 1 });
    strict.update(home, { capacity: 1, load: 1 });
    expect(bounded.pick(key)).not.toBe(home);
    expect(strict.pick(key)).toBe(home);
    for (const id of AGENTS) bounded.update(id, { capacity: 1, load: 1 });
    expect(bounded.pick(key)).toBeUndefined();
  });

  it('finds the first live point clockwise of the key’s hash (indexed lookup checked against a linear scan)', () => {
    for (const agents of [1, 3, 50]) {
      const s = ring(Array.from({ length: agents }, (_, i) => `n${i}`), { vnodes: 37 });
      s.update('n0', { live: agents === 1 });
      s.pick('warm');
      const hashes = Reflect.get(s, 'hashes') as Uint32Array;
      const slots = Reflect.get(s, 'slots') as Int32Array;
      const recs = Reflect.get(s, 'slotRecs') as Array<{ id: string; live: boolean } | undefined>;
      for (const key of KEYS.slice(0, 3000)) {
        const h = hash32(key);
        let i = hashes.findIndex((x) => x >= h);
        if (i < 0) i = 0;
        while (!recs[slots[i]]!.live) i = (i + 1) % hashes.length;
        expect(s.pick(key)).toBe(recs[slots[i]]!.id);
      }
    }
  });

  it('round-robins picks without a key', () => {
    const s = ring(['a', 'b', 'c']);
    expect(new Set([s.pick(), s.pick(), s.pick()])).toEqual(new Set(['a', 'b', 'c']));
  });

  it('stays consistent through heavy churn (tombstones, compaction, re-adds)', () => {
    const s = ring(AGENTS, { vnodes: 100 });
    for (let round = 0; round < 5; round++) {
      for (let i = 0; i < 8; i++) s.remove(`agent-${i}`);
      s.pick('x');
      for (let i = 0; i < 8; i++) s.add({ id: `agent-${i}` });
    }
    expect(s.ringSize).toBeLessThanOrEqual(2 * 10 * 100);
    expect(mapping(s)).toEqual(mapping(ring(AGENTS, { vnodes: 100 })));
    expect(s.size).toBe(10);
    for (const id of AGENTS) s.remove(id);
    expect(s.pick('x')).toBeUndefined();
  });
});
