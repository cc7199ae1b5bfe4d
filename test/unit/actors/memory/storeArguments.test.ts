// Unit tests for search/delete/stats argument checks and store option resolution: each bad argument is a
// typed error naming it.
import { describe, expect, it } from 'vitest';
import { resolveStoreOptions } from '../../../../actors/memory/MemoryStore.js';
import { checkDeleteRequest, checkNamespace, checkSearchQuery } from '../../../../actors/memory/storeArguments.js';
import { ConfigError, InvalidArgumentError } from '../../../../protocols/errors.js';

const limits = { dims: 3, storage: 'halfvec' as const, maxK: 100, efSearch: 40 };
const query = { namespace: 'ns', vector: [1, 0, 0], k: 5 };

function argumentOf(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(InvalidArgumentError);
    expect((err as InvalidArgumentError).code).toBe('INVALID_ARGUMENT');
    expect((err as InvalidArgumentError).retryable).toBe(false);
    return (err as InvalidArgumentError).details?.['argument'];
  }
  throw new Error('expected an InvalidArgumentError');
}

describe('checkSearchQuery', () => {
  it('normalizes a good query: float32 vector, ef_search at least k', () => {
    const q = checkSearchQuery({ ...query, filter: { a: 1 } }, limits);
    expect(q).toEqual({ namespace: 'ns', vector: Float32Array.of(1, 0, 0), k: 5, filterJson: '{"a":1}', efSearch: 40 });
    expect(checkSearchQuery({ ...query, k: 60 }, limits).efSearch).toBe(60);
    expect(checkSearchQuery({ ...query, efSearch: 200 }, limits).efSearch).toBe(200);
    expect(checkSearchQuery({ ...query, filter: {} }, limits).filterJson).toBeUndefined();
  });

  it('refuses a bad k', () => {
    for (const k of [0, -1, 1.5, 101, NaN, '5', undefined]) expect(argumentOf(() => checkSearchQuery({ ...query, k: k as number }, limits))).toBe('k');
  });

  it('refuses a wrong-size, non-finite, all-zero or non-numeric vector', () => {
    for (const vector of [[1, 0], [1, 0, 0, 0], [NaN, 0, 0], [Infinity, 0, 0], [0, 0, 0], [1e6, 0, 0], 'x', [1, '0', 0]]) {
      expect(argumentOf(() => checkSearchQuery({ ...query, vector: vector as number[] }, limits))).toBe('vector');
    }
    expect(() => checkSearchQuery({ ...query, vector: [1, 2] }, limits)).toThrow('vector has 2 dimensions, expected 3');
    expect(checkSearchQuery({ ...query, vector: [1e6, 0, 0] }, { ...limits, storage: 'vector' }).vector[0]).toBe(1e6);
  });

  it('refuses a bad namespace, filter or efSearch', () => {
    expect(argumentOf(() => checkSearchQuery({ ...query, namespace: 'a b' }, limits))).toBe('namespace');
    expect(argumentOf(() => checkSearchQuery({ ...query, filter: [1] as never }, limits))).toBe('filter');
    expect(argumentOf(() => checkSearchQuery({ ...query, efSearch: 1001 }, limits))).toBe('efSearch');
    expect(argumentOf(() => checkSearchQuery(null as never, limits))).toBe('query');
  });
});

describe('checkDeleteRequest and checkNamespace', () => {
  it('takes a namespace with or without ids', () => {
    expect(checkDeleteRequest({ namespace: 'ns' })).toEqual({ namespace: 'ns', ids: undefined });
    expect(checkDeleteRequest({ namespace: 'ns', ids: ['a', 'b'] })).toEqual({ namespace: 'ns', ids: ['a', 'b'] });
    expect(argumentOf(() => checkDeleteRequest({ namespace: 'ns', ids: [''] }))).toBe('ids');
    expect(argumentOf(() => checkDeleteRequest({ namespace: 'ns', ids: 'a' as never }))).toBe('ids');
    expect(argumentOf(() => checkDeleteRequest({ namespace: '' }))).toBe('namespace');
    expect(argumentOf(() => checkNamespace('x'.repeat(129)))).toBe('namespace');
  });
});

describe('resolveStoreOptions', () => {
  it('applies the defaults', () => {
    const o = resolveStoreOptions();
    expect(o).toMatchObject({ dims: 384, storage: 'halfvec', hnsw: { m: 16, efConstruction: 64, efSearch: 100 }, schema: 'hive', table: 'memory_documents', deferIndex: false, directCopy: false });
  });

  it('refuses bad options with a ConfigError naming the option', () => {
    const option = (o: Parameters<typeof resolveStoreOptions>[0]) => {
      try {
        resolveStoreOptions(o);
      } catch (err) {
        expect(err).toBeInstanceOf(ConfigError);
        return (err as ConfigError).details?.['option'];
      }
      throw new Error('expected a ConfigError');
    };
    expect(option({ dims: 0 })).toBe('dims');
    expect(option({ dims: 2001, storage: 'vector' })).toBe('dims');
    expect(resolveStoreOptions({ dims: 4000 }).dims).toBe(4000); // halfvec indexes up to 4,000
    expect(option({ storage: 'bit' as never })).toBe('storage');
    expect(option({ hnsw: { m: 1 } })).toBe('hnsw.m');
    expect(option({ hnsw: { m: 32, efConstruction: 40 } })).toBe('hnsw.efConstruction'); // must be ≥ 2m
    expect(option({ hnsw: { efSearch: 0 } })).toBe('hnsw.efSearch');
    expect(option({ schema: 'Bad-Name' })).toBe('schema');
    expect(option({ table: 'x; drop table y' })).toBe('table');
  });
});
