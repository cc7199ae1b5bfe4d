// What keeps an embedded node small (bench footprint): a new PGlite data folder is created in a child process
// (its initdb memory goes back to the OS), and PGlite runs with shared_buffers of 32MB (or the option's value).
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { PgliteStore } from '../../../actors/memory/PgliteStore.js';
import { HiveError } from '../../../protocols/errors.js';

const dir = mkdtempSync(join(tmpdir(), 'hive-pglite-footprint-'));

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('PGlite footprint settings', () => {
  it('creates a new data folder in a child process, then opens it here with shared_buffers 32MB', async () => {
    const folder = join(dir, 'memory');
    const store = new PgliteStore({ dataDir: folder, dims: 8 });
    await store.init();
    expect(existsSync(join(folder, 'PG_VERSION'))).toBe(true);
    expect(await store.ingest([{ id: 'a', namespace: 'n', content: 'kept', embedding: [1, 0, 0, 0, 0, 0, 0, 0] }])).toMatchObject({ inserted: 1 });
    await store.close();
    const db = await PgliteStore.open(folder);
    try {
      expect((await db.query<{ shared_buffers: string }>('SHOW shared_buffers')).rows[0].shared_buffers).toBe('32MB');
      expect((await db.query<{ n: number }>('SELECT count(*)::int AS n FROM hive.memory_documents')).rows[0].n).toBe(1);
    } finally {
      await db.close();
    }
  }, 180_000);

  it('refuses a malformed sharedBuffers naming the option', () => {
    expect(() => new PgliteStore({ sharedBuffers: '32 megabytes' })).toThrow(HiveError);
  });
});
