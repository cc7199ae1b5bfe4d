import { describe, expect, it } from 'vitest';
import { memoryNamespaceSubject, namespaceOfRequest, scopeToNamespace } from '../../../../actors/memory/namespaceScope.js';

describe('memory requests scoped by subject', () => {
  it('fills in the namespace of the subject and refuses any other', () => {
    expect(scopeToNamespace({ type: 'memory.search', text: 'x' }, 'a')).toEqual({ type: 'memory.search', text: 'x', namespace: 'a' });
    expect(() => scopeToNamespace({ type: 'memory.search', namespace: 'b' }, 'a')).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }) as Error);
    expect(() => scopeToNamespace({ type: 'memory.ingest', docs: [{ content: 'x' }, { content: 'y', namespace: 'b' }] }, 'a')).toThrow(/document 1/);
    expect(scopeToNamespace({ type: 'memory.ingest', docs: [{ content: 'x', namespace: 'a' }] }, 'a')['namespace']).toBe('a');
    expect(scopeToNamespace({ type: 'memory.delete', ids: ['1'] }, 'a')).toMatchObject({ namespace: 'a' });
  });

  it('leaves a whole-namespace delete and other request types to the bare subject (admin)', () => {
    expect(() => scopeToNamespace({ type: 'memory.delete', namespace: 'a' }, 'a')).toThrow(/admin operation/);
    expect(() => scopeToNamespace({ type: 'memory.wipe' }, 'a')).toThrow(expect.objectContaining({ code: 'INVALID_EVENT' }) as Error);
  });

  it('routes a request to the subject of its one namespace when it has one', () => {
    expect(memoryNamespaceSubject('c', 'ns')).toBe('hive.c.memory.ns');
    expect(namespaceOfRequest({ type: 'memory.search', namespace: 'ns' })).toBe('ns');
    expect(namespaceOfRequest({ type: 'memory.ingest', docs: [{ content: 'x' }] })).toBe('default');
    expect(namespaceOfRequest({ type: 'memory.ingest', namespace: 'a', docs: [{ content: 'x', namespace: 'b' }] })).toBeUndefined();
    expect(namespaceOfRequest({ type: 'memory.delete', namespace: 'a' })).toBeUndefined();
    expect(namespaceOfRequest({ type: 'memory.stats' })).toBeUndefined();
    expect(namespaceOfRequest({ type: 'memory.search', namespace: 'a.b' })).toBeUndefined();
  });
});
