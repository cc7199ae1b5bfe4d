// Unit tests for the feature-hashing embedder: determinism, unit norm, and similar texts scoring higher.
import { describe, expect, it } from 'vitest';
import { HashingEmbedder, tokenize } from '../../../../actors/memory/HashingEmbedder.js';

const cosine = (a: Float32Array, b: Float32Array) => {
  let dot = 0;
  for (let i = 0; i < a.length; i++) dot += a[i] * b[i];
  return dot; // both unit length
};

describe('HashingEmbedder', () => {
  const e = new HashingEmbedder();

  it('tokenizes letters and digits in any script, case- and width-insensitively', () => {
    expect(tokenize('Hello, WORLD! déjà-vu ＡＢＣ 42')).toEqual(['hello', 'world', 'déjà', 'vu', 'abc', '42']);
    expect(tokenize('  ...  ')).toEqual([]);
  });

  it('is deterministic and L2-normalized, with the configured dims', async () => {
    const [a, b] = await e.embed(['the quick brown fox', 'the quick brown fox']);
    expect(a).toEqual(b);
    expect(a.length).toBe(384);
    expect(cosine(a, a)).toBeCloseTo(1, 5);
    expect(new HashingEmbedder({ dims: 16 }).embedOne('x').length).toBe(16);
    // A fixed seed gives fixed values across runs and machines.
    expect(Array.from(new HashingEmbedder({ dims: 8 }).embedOne('hive memory')).map((x) => Math.round(x * 1000))).toEqual([0, 0, 0, -555, 0, 0, -832, 0]);
  });

  it('scores similar texts higher than unrelated ones', () => {
    const pairs = [
      ['the cat sat on the mat', 'a cat was sitting on the mat', 'quarterly revenue grew in the european market'],
      ['restart the failed worker pool', 'the worker pool failed and was restarted', 'chocolate cake recipe with strawberries'],
      ['PostgreSQL vector search with HNSW', 'HNSW index for vector search in PostgreSQL', 'the football match ended in a draw'],
    ];
    for (const [text, similar, unrelated] of pairs) {
      const [a, b, c] = [text, similar, unrelated].map((t) => e.embedOne(t));
      expect(cosine(a, b)).toBeGreaterThan(cosine(a, c) + 0.2);
    }
  });

  it('embeds a text without words to the zero vector, and different seeds differently', () => {
    expect(Array.from(e.embedOne('!!!')).every((x) => x === 0)).toBe(true);
    const a = new HashingEmbedder({ seed: 1 }).embedOne('same words here');
    const b = new HashingEmbedder({ seed: 2 }).embedOne('same words here');
    expect(Math.abs(cosine(a, b))).toBeLessThan(0.5);
    expect(() => new HashingEmbedder({ dims: 0 })).toThrow(RangeError);
  });
});
