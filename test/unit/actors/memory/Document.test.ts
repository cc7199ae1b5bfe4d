// Unit tests for document validation: one test per rejection case, plus normalization of good documents.
import { describe, expect, it } from 'vitest';
import { validateDocument, type DocumentValidation, type ValidationLimits } from '../../../../actors/memory/Document.js';

const limits: ValidationLimits = { dims: 4, maxContentBytes: 32, maxMetadataBytes: 64, now: () => 1_000, newId: () => 'generated' };
const good = () => ({ id: 'a', namespace: 'ns', content: 'hello', metadata: { tag: 'x' }, embedding: Float32Array.of(1, 0, 0, 0) });

function rejection(r: DocumentValidation) {
  if (r.ok) throw new Error('expected a rejection');
  return r.rejection;
}

describe('validateDocument', () => {
  it('accepts a good document and normalizes it', () => {
    const r = validateDocument({ ...good(), id: undefined, metadata: undefined, embedding: [0.5, 0, 0, -1] }, limits, 3);
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.doc).toEqual({ id: 'generated', namespace: 'ns', content: 'hello', metadata: {}, embedding: Float32Array.of(0.5, 0, 0, -1), createdAt: new Date(1_000) });
    expect(r.metadataJson).toBe('{}');
  });

  it('keeps a Float32Array embedding without copying, and takes createdAt as Date, number or ISO text', () => {
    const doc = good();
    const r = validateDocument({ ...doc, createdAt: '2026-01-02T03:04:05.000Z' }, limits);
    expect(r.ok && r.doc.embedding).toBe(doc.embedding);
    expect(r.ok && r.doc.createdAt.toISOString()).toBe('2026-01-02T03:04:05.000Z');
    const n = validateDocument({ ...doc, createdAt: 5 }, limits);
    expect(n.ok && n.doc.createdAt.getTime()).toBe(5);
    const generated = validateDocument({ ...doc, id: undefined }, { dims: 4, maxContentBytes: 32 });
    expect(generated.ok && generated.doc.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });

  it('rejects a document that is not an object', () => {
    for (const bad of [null, 'text', 42, [good()]]) {
      expect(rejection(validateDocument(bad, limits, 7))).toEqual({ index: 7, field: 'document', reason: 'document is not an object' });
    }
  });

  it('rejects a wrong embedding dimension, naming the document and field', () => {
    expect(rejection(validateDocument({ ...good(), embedding: [1, 2, 3] }, limits, 2))).toEqual({
      index: 2,
      id: 'a',
      field: 'embedding',
      reason: 'embedding has 3 dimensions, expected 4',
    });
  });

  it('rejects NaN and Infinity embeddings', () => {
    expect(rejection(validateDocument({ ...good(), embedding: [1, NaN, 0, 0] }, limits)).reason).toBe('embedding[1] is NaN');
    expect(rejection(validateDocument({ ...good(), embedding: Float32Array.of(1, 0, -Infinity, 0) }, limits)).reason).toBe('embedding[2] is -Infinity');
    // 1e39 overflows float32 to Infinity on conversion.
    expect(rejection(validateDocument({ ...good(), embedding: [1e39, 0, 0, 0] }, limits)).reason).toBe('embedding[0] is Infinity');
  });

  it('rejects components beyond the halfvec range, but not for vector storage', () => {
    const doc = { ...good(), embedding: [70000, 0, 0, 0] };
    expect(rejection(validateDocument(doc, limits)).reason).toMatch(/embedding\[0\] is 70000, beyond the halfvec range/);
    expect(validateDocument(doc, { ...limits, storage: 'vector' }).ok).toBe(true);
  });

  it('rejects an all-zero embedding, a non-array and non-numbers', () => {
    expect(rejection(validateDocument({ ...good(), embedding: [0, 0, 0, 0] }, limits)).reason).toMatch(/all zeros/);
    expect(rejection(validateDocument({ ...good(), embedding: 'x' }, limits)).field).toBe('embedding');
    expect(rejection(validateDocument({ ...good(), embedding: [1, '2', 3, 4] }, limits)).reason).toBe('embedding[1] is not a number');
    expect(rejection(validateDocument({ ...good(), embedding: undefined }, limits)).field).toBe('embedding');
  });

  it('rejects empty and whitespace-only content', () => {
    expect(rejection(validateDocument({ ...good(), content: '' }, limits))).toMatchObject({ field: 'content', reason: 'content is empty' });
    expect(rejection(validateDocument({ ...good(), content: ' \n\t' }, limits))).toMatchObject({ field: 'content', reason: 'content is empty' });
    expect(rejection(validateDocument({ ...good(), content: 5 }, limits))).toMatchObject({ field: 'content', reason: 'content must be a string, got number' });
  });

  it('rejects oversized content, counting UTF-8 bytes', () => {
    expect(validateDocument({ ...good(), content: 'x'.repeat(32) }, limits).ok).toBe(true);
    expect(rejection(validateDocument({ ...good(), content: 'x'.repeat(33) }, limits)).reason).toBe('content is 33 bytes, over the 32-byte limit');
    // 11 characters of 3 bytes each: 33 bytes.
    expect(rejection(validateDocument({ ...good(), content: '€'.repeat(11) }, limits)).reason).toBe('content is 33 bytes, over the 32-byte limit');
  });

  it('rejects content with a NUL character and repairs unpaired surrogates', () => {
    expect(rejection(validateDocument({ ...good(), content: 'a\u0000b' }, limits)).reason).toBe('content contains a NUL character');
    const r = validateDocument({ ...good(), content: 'a\uD800b' }, limits);
    expect(r.ok && r.doc.content).toBe('a\uFFFDb');
    const pair = validateDocument({ ...good(), content: 'ok 🙂' }, limits);
    expect(pair.ok && pair.doc.content).toBe('ok 🙂');
  });

  it('rejects metadata that is not a plain object', () => {
    for (const [bad, kind] of [
      [[1, 2], 'an array'],
      ['x', 'string'],
      [3, 'number'],
      [new Date(0), 'object'],
      [new Map(), 'object'],
    ] as const) {
      expect(rejection(validateDocument({ ...good(), metadata: bad }, limits))).toMatchObject({ field: 'metadata', reason: `metadata must be a plain object, got ${kind}` });
    }
    expect(validateDocument({ ...good(), metadata: null }, limits).ok).toBe(true); // null means none
    expect(validateDocument({ ...good(), metadata: Object.create(null) as object }, limits).ok).toBe(true);
  });

  it('rejects metadata that jsonb cannot store or that is too large', () => {
    const circular: Record<string, unknown> = {};
    circular['self'] = circular;
    expect(rejection(validateDocument({ ...good(), metadata: circular }, limits)).reason).toMatch(/not JSON-serializable/);
    expect(rejection(validateDocument({ ...good(), metadata: { n: 1n } }, limits)).reason).toMatch(/not JSON-serializable/);
    expect(rejection(validateDocument({ ...good(), metadata: { s: 'a\u0000' } }, limits)).reason).toMatch(/NUL character or an unpaired surrogate/);
    expect(rejection(validateDocument({ ...good(), metadata: { s: '\uDC00' } }, limits)).reason).toMatch(/unpaired surrogate/);
    // A literal backslash followed by "u0000" is fine.
    expect(validateDocument({ ...good(), metadata: { s: '\\u0000' } }, limits).ok).toBe(true);
    expect(rejection(validateDocument({ ...good(), metadata: { s: 'x'.repeat(100) } }, limits)).reason).toBe('metadata is over the 64-byte limit as JSON');
  });

  it('rejects a bad namespace', () => {
    for (const ns of ['', 'has space', 'dots.are.subjects', 'x'.repeat(129), undefined, 7]) {
      expect(rejection(validateDocument({ ...good(), namespace: ns }, limits)).field).toBe('namespace');
    }
    expect(validateDocument({ ...good(), namespace: 'A-z_09' }, limits).ok).toBe(true);
  });

  it('rejects a bad id', () => {
    expect(rejection(validateDocument({ ...good(), id: '' }, limits))).toMatchObject({ field: 'id' });
    expect(rejection(validateDocument({ ...good(), id: 'x'.repeat(257) }, limits))).toMatchObject({ field: 'id' });
    expect(rejection(validateDocument({ ...good(), id: 12 }, limits))).toMatchObject({ field: 'id', reason: 'id must be a string, got number' });
    expect(rejection(validateDocument({ ...good(), id: 'a\u0000' }, limits))).toMatchObject({ field: 'id' });
  });

  it('rejects a bad createdAt', () => {
    expect(rejection(validateDocument({ ...good(), createdAt: 'yesterday-ish' }, limits))).toMatchObject({ field: 'createdAt', id: 'a' });
    expect(rejection(validateDocument({ ...good(), createdAt: {} }, limits))).toMatchObject({ field: 'createdAt' });
    expect(rejection(validateDocument({ ...good(), createdAt: new Date(NaN) }, limits))).toMatchObject({ field: 'createdAt' });
  });
});
