// The pure parts of `hive ingest` / `hive search`: JSONL lines to documents (malformed lines rejected with the
// line number and the reason, content-hash ids, embeddings as Float32Array), excerpts, memory env options.
import { describe, expect, it } from 'vitest';
import { contentId, excerpt, parseJsonlLine } from '../../../cluster/commands/memory.js';
import { describeMemory, memoryOptionsFromEnv } from '../../../cluster/NodeMemory.js';

describe('hive ingest lines', () => {
  it('memory cli - parses a document line, filling namespace and a content-hash id', () => {
    const r = parseJsonlLine('{"content":"hello","metadata":{"a":1},"embedding":[1,2,3]}', 7, 'docs');
    expect(r?.ok).toBe(true);
    if (!r?.ok) return;
    expect(r.doc).toMatchObject({ namespace: 'docs', content: 'hello', metadata: { a: 1 }, id: contentId('docs', 'hello') });
    expect(r.doc['embedding']).toBeInstanceOf(Float32Array);
    expect(contentId('docs', 'hello')).toMatch(/^[0-9a-f]{32}$/);
    expect(contentId('other', 'hello')).not.toBe(contentId('docs', 'hello'));
    const own = parseJsonlLine('{"id":"x1","namespace":"ns","content":"c"}', 1, 'docs');
    expect(own?.ok && own.doc).toMatchObject({ id: 'x1', namespace: 'ns' });
  });

  it('memory cli - rejects malformed lines with the line number and the reason, and skips blank ones', () => {
    expect(parseJsonlLine('   ', 3, 'd')).toBeUndefined();
    const bad = parseJsonlLine('{"content": "x"', 4, 'd');
    expect(bad).toMatchObject({ ok: false, rejection: { line: 4 } });
    expect(!bad?.ok && bad?.rejection.reason).toMatch(/^not valid JSON: /);
    expect(parseJsonlLine('[1,2]', 5, 'd')).toEqual({ ok: false, rejection: { line: 5, reason: 'not a JSON object (got an array)' } });
    expect(parseJsonlLine('42', 6, 'd')).toEqual({ ok: false, rejection: { line: 6, reason: 'not a JSON object (got number)' } });
    // Field problems are the server's to judge: a non-numeric embedding is sent as is.
    const odd = parseJsonlLine('{"content":"x","embedding":["a"]}', 8, 'd');
    expect(odd?.ok && odd.doc['embedding']).toEqual(['a']);
  });

  it('memory cli - excerpts collapse whitespace and cut long content', () => {
    expect(excerpt('a\n\n b   c')).toBe('a b c');
    expect(excerpt('x'.repeat(100), 10)).toBe(`${'x'.repeat(9)}…`);
  });

  it('memory cli - reads memory options from the environment, naming a bad variable', () => {
    expect(memoryOptionsFromEnv({ HIVE_MEMORY_SCHEMA: 'mine', HIVE_MEMORY_ACK_WAIT_MS: '2000' })).toEqual({ schema: 'mine', ingest: { ackWaitMs: 2000 } });
    expect(() => memoryOptionsFromEnv({ HIVE_MEMORY_ACK_WAIT_MS: 'soon' })).toThrow(/HIVE_MEMORY_ACK_WAIT_MS/);
    expect(describeMemory({ database: 'postgres://u:secret@h:5432/db', dataDir: '.hive' })).toBe('PostgreSQL postgres://***@h:5432/db');
    expect(describeMemory({ database: undefined, dataDir: '/tmp/x' })).toBe('PGlite /tmp/x/memory');
  });
});
