// Memory queue messages carry only what validation produced (issue 12): a forged binary COPY batch (another
// tenant's namespace, extra bytes, wrong counts, non-finite or all-zero vectors, raw bytes) or a version 1
// message with unvalidated fields does not decode, so the consumer dead-letters it with that reason.
import { describe, expect, it } from 'vitest';
import { validateDocument, type ValidDocument } from '../../../../actors/memory/Document.js';
import { encodeDocumentBatch, toDocumentBatch } from '../../../../actors/memory/documentBatch.js';
import { decodeQueueMessage, encodeCopyMessage, encodeIngestMessage } from '../../../../actors/memory/ingestMessage.js';
import { CopyWriter, copySize } from '../../../../protocols/copy.js';

const DIMS = 4;
function valid(namespace: string, id: string): ValidDocument {
  const r = validateDocument({ id, namespace, content: `text of ${id}`, metadata: { n: 1 }, embedding: Float32Array.of(1, 2, 3, 4), createdAt: 5 }, { dims: DIMS, maxContentBytes: 1024 });
  if (!r.ok) throw new Error(r.rejection.reason);
  return r;
}

function copyOf(docs: ValidDocument[], storage: 'halfvec' | 'vector' = 'vector'): Buffer {
  return encodeDocumentBatch(toDocumentBatch(docs, DIMS, storage));
}

describe('memory queue messages', () => {
  it('decode a COPY batch Hive wrote', () => {
    for (const storage of ['vector', 'halfvec'] as const) {
      const m = decodeQueueMessage(encodeCopyMessage('b1', undefined, copyOf([valid('mine', 'a'), valid('mine', 'b')], storage), 2, ['mine'], DIMS, storage));
      expect(m).toMatchObject({ kind: 'copy', count: 2, namespaces: ['mine'] });
    }
  });

  it('refuse a COPY batch writing a namespace it does not declare', () => {
    const copy = copyOf([valid('victim', 'a')]);
    expect(() => decodeQueueMessage(encodeCopyMessage('b1', undefined, copy, 1, ['mine'], DIMS, 'vector'))).toThrow(/namespace not declared/);
  });

  it('refuse wrong counts, bytes after the trailer, raw bytes and a wrong dimension', () => {
    const copy = copyOf([valid('mine', 'a'), valid('mine', 'b')]);
    expect(() => decodeQueueMessage(encodeCopyMessage('b', undefined, copy, 1, ['mine'], DIMS, 'vector'))).toThrow(/fields|trailer/);
    expect(() => decodeQueueMessage(encodeCopyMessage('b', undefined, copy, 3, ['mine'], DIMS, 'vector'))).toThrow(/truncated|row 2/);
    expect(() => decodeQueueMessage(encodeCopyMessage('b', undefined, Buffer.concat([copy, Buffer.from('DROP TABLE')]), 2, ['mine'], DIMS, 'vector'))).toThrow(/after the COPY trailer/);
    expect(() => decodeQueueMessage(encodeCopyMessage('b', undefined, Buffer.from('PGCOPY raw garbage that is not rows'), 1, ['mine'], DIMS, 'vector'))).toThrow(/not a batch of valid documents/);
    expect(() => decodeQueueMessage(encodeCopyMessage('b', undefined, copy, 2, ['mine'], 8, 'vector'))).toThrow(/embedding/);
    expect(() => decodeQueueMessage(encodeCopyMessage('b', undefined, copy, 2, ['mine'], DIMS, 'halfvec'))).toThrow(/embedding/);
  });

  it('refuse non-finite and all-zero embeddings and non-object metadata written by hand', () => {
    const row = (embedding: Float32Array, meta = '{}'): Buffer => {
      const size = copySize.header + copySize.trailer + copySize.row + copySize.text('mine') + copySize.text('a') + copySize.text('c') + copySize.jsonb(meta) + copySize.vector(DIMS) + copySize.timestamptz;
      return new CopyWriter(size).header().row(6).text('mine').text('a').text('c').jsonb(meta).vector(embedding).timestamptz(0).trailer().finish();
    };
    const decode = (copy: Buffer) => decodeQueueMessage(encodeCopyMessage('b', undefined, copy, 1, ['mine'], DIMS, 'vector'));
    expect(decode(row(Float32Array.of(1, 0, 0, 0)))).toMatchObject({ kind: 'copy' });
    expect(() => decode(row(Float32Array.of(1, Number.NaN, 0, 0)))).toThrow(/not finite/);
    expect(() => decode(row(Float32Array.of(0, 0, 0, 0)))).toThrow(/all zeros/);
    expect(() => decode(row(Float32Array.of(1, 0, 0, 0), '[1]'))).toThrow(/jsonb object/);
  });

  it('refuse a version 1 message with an unvalidated namespace or id', () => {
    const doc = valid('mine', 'a');
    expect(decodeQueueMessage(encodeIngestMessage('b', undefined, [doc], DIMS, 'vector'))).toMatchObject({ kind: 'docs' });
    const forged = { ...doc, doc: { ...doc.doc, namespace: 'bad.namespace' } };
    expect(() => decodeQueueMessage(encodeIngestMessage('b', undefined, [forged], DIMS, 'vector'))).toThrow(/not a validated document/);
    const noId = { ...doc, doc: { ...doc.doc, id: '' } };
    expect(() => decodeQueueMessage(encodeIngestMessage('b', undefined, [noId], DIMS, 'vector'))).toThrow(/not a validated document/);
  });
});
