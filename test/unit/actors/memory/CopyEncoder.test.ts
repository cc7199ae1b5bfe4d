// Unit tests for the document batch and the COPY encoder: sorted rows, exact sizes, and the piscina worker
// (loaded from TypeScript sources here) producing the same bytes as inline encoding.
import { afterAll, describe, expect, it } from 'vitest';
import { CopyEncoder } from '../../../../actors/memory/CopyEncoder.js';
import { validateDocument, type ValidDocument } from '../../../../actors/memory/Document.js';
import { encodeDocumentBatch, toDocumentBatch } from '../../../../actors/memory/documentBatch.js';
import { f16ToF32 } from '../../../../protocols/embeddings.js';

function docs(n: number, dims: number): ValidDocument[] {
  const out: ValidDocument[] = [];
  for (let i = 0; i < n; i++) {
    const r = validateDocument(
      {
        id: `id-${(i * 7919) % n}`,
        namespace: i % 2 ? 'b' : 'a',
        content: `document ${i} ✓`,
        metadata: { i },
        embedding: Float32Array.from({ length: dims }, (_, j) => Math.sin(i + j) + 0.01),
        createdAt: 1_700_000_000_000 + i,
      },
      { dims, maxContentBytes: 1000 },
      i,
    );
    if (!r.ok) throw new Error(r.rejection.reason);
    out.push(r);
  }
  return out;
}

describe('document batches', () => {
  it('sorts by namespace then id, and copies embeddings into one fresh buffer', () => {
    const input = docs(5, 3);
    const batch = toDocumentBatch(input, 3, 'halfvec');
    const keys = batch.namespaces.map((ns, i) => `${ns}/${batch.ids[i]}`);
    expect(keys).toEqual([...keys].sort());
    expect(batch.embeddings.length).toBe(15);
    expect(batch.embeddings.buffer).not.toBe(input[0].doc.embedding.buffer);
  });

  it('encodes rows with halfvec or vector embeddings', () => {
    const [one] = docs(1, 2);
    const half = encodeDocumentBatch(toDocumentBatch([one], 2, 'halfvec'));
    const full = encodeDocumentBatch(toDocumentBatch([one], 2, 'vector'));
    expect(full.length - half.length).toBe(2 * 2); // two bytes more per component
    // Field 5 of the row (after 19 header bytes, 2 field-count bytes and four fields) is the halfvec.
    let o = 21;
    for (let f = 0; f < 4; f++) o += 4 + half.readInt32BE(o);
    expect(half.readInt32BE(o)).toBe(4 + 2 * 2); // int16 dims, int16 unused, two halves
    expect(f16ToF32(half.readUInt16BE(o + 8))).toBeCloseTo(Math.sin(0) + 0.01, 3);
  });
});

describe('CopyEncoder', () => {
  const workers = new CopyEncoder({ dims: 16, storage: 'halfvec', workers: 1, inlineBelow: 10 });
  const inline = new CopyEncoder({ dims: 16, storage: 'halfvec', workers: 0 });
  afterAll(async () => {
    await workers.close();
    await inline.close();
  });

  it('encodes on a worker thread exactly as inline', async () => {
    expect(workers.usesWorkers).toBe(true);
    expect(inline.usesWorkers).toBe(false);
    const batch = docs(300, 16);
    const [a, b] = await Promise.all([workers.encode(batch), inline.encode(batch)]);
    expect(Buffer.compare(a, b)).toBe(0);
    // The caller's embeddings are untouched (the worker got a copy, transferred).
    expect(batch[0].doc.embedding.length).toBe(16);
  });

  it('encodes small batches inline and several batches at once', async () => {
    const small = docs(3, 16);
    expect(Buffer.compare(await workers.encode(small), await inline.encode(small))).toBe(0);
    const many = await Promise.all([docs(100, 16), docs(50, 16), docs(20, 16)].map((d) => workers.encode(d)));
    expect(many.map((m) => m.length > 0)).toEqual([true, true, true]);
  });
});
