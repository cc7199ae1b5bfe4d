// Unit tests of subject names and the single-token check for actor ids and cluster names.
import { describe, expect, it } from 'vitest';
import { HiveError } from '../../../protocols/errors.js';
import { actorSubject, assertToken, isToken, poolSubject, sysSubject, virtualSubject } from '../../../protocols/subjects.js';

describe('subjects - assertToken', () => {
  it('accepts letters, digits, underscore and dash, 1 to 128 characters', () => {
    for (const ok of ['a', 'Z', '0', 'actor-1', 'my_cluster', 'A-z_09', 'x'.repeat(128)]) {
      expect(assertToken(ok, 'actor id')).toBe(ok);
      expect(isToken(ok)).toBe(true);
    }
  });

  it('refuses dots, spaces, wildcards, empty, 129 characters and other characters with INVALID_ID naming the value', () => {
    for (const bad of ['a.b', 'a b', ' ', '*', '>', 'a*', 'a>', '', 'x'.repeat(129), 'é', 'a/b', 'tab\t', 'nl\n']) {
      expect(isToken(bad)).toBe(false);
      let err: unknown;
      try {
        assertToken(bad, 'actor id');
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(HiveError);
      const h = err as HiveError;
      expect(h.code).toBe('INVALID_ID');
      expect(h.message).toContain('actor id');
      const shown = JSON.stringify(bad.length > 80 ? `${bad.slice(0, 80)}…` : bad);
      expect(h.message).toContain(shown);
      expect(h.details).toMatchObject({ what: 'actor id', value: bad });
    }
  });

  it('refuses non-strings with INVALID_ID naming the value', () => {
    const cases: Array<[unknown, string]> = [
      [123, '123'],
      [null, 'null'],
      [undefined, 'undefined'],
      [{}, '[object Object]'],
      [['a'], 'a'],
      [true, 'true'],
    ];
    for (const [bad, shown] of cases) {
      expect(isToken(bad)).toBe(false);
      let err: unknown;
      try {
        assertToken(bad, 'cluster name');
      } catch (e) {
        err = e;
      }
      expect((err as HiveError).code).toBe('INVALID_ID');
      expect((err as HiveError).message).toContain(`cluster name ${shown}`);
    }
  });
});

describe('subjects - names', () => {
  it('builds actor, virtual actor, system and pool subjects under hive.<cluster>', () => {
    expect(actorSubject('c1', 'a1')).toBe('hive.c1.actor.a1');
    expect(virtualSubject('c1', 'counter', 'k')).toBe('hive.c1.kind.counter.k');
    expect(sysSubject('c1')).toBe('hive.c1.sys');
    expect(sysSubject('c1', 'node', 'n1')).toBe('hive.c1.sys.node.n1');
    expect(poolSubject('c1', 'p')).toBe('hive.c1.pool.p');
  });
});
