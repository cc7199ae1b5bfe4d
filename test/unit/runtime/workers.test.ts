// Unit tests for the worker pool wrapper: worker modules resolve to compiled .js when present, else to the
// .ts source loaded through tsx; tasks run with transferred buffers.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { resolveWorkerModule, WorkerPool } from '../../../runtime/workers.js';

const dir = mkdtempSync(join(tmpdir(), 'hive-workers-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('resolveWorkerModule', () => {
  it('prefers the .js file and falls back to the .ts source with tsx', () => {
    writeFileSync(join(dir, 'a.ts'), 'export default (x: number): number => x * 2;\n');
    expect(resolveWorkerModule(pathToFileURL(join(dir, 'a.js')))).toEqual({ filename: join(dir, 'a.ts'), execArgv: ['--import', 'tsx'] });
    writeFileSync(join(dir, 'a.js'), 'export default (x) => x * 3;\n');
    expect(resolveWorkerModule(pathToFileURL(join(dir, 'a.js')))).toEqual({ filename: join(dir, 'a.js'), execArgv: undefined });
    expect(() => resolveWorkerModule(pathToFileURL(join(dir, 'missing.js')))).toThrow(/worker module not found/);
  });
});

describe('WorkerPool', () => {
  it('runs a TypeScript worker with a transferred buffer, and refuses work once destroyed', async () => {
    writeFileSync(join(dir, 'sum.ts'), 'export default (v: Float64Array): number => v.reduce((a: number, b: number) => a + b, 0);\n');
    const pool = new WorkerPool<Float64Array, number>(pathToFileURL(join(dir, 'sum.js')), { maxThreads: 1 });
    try {
      const v = Float64Array.of(1, 2, 3.5);
      expect(await pool.run(v, [v.buffer])).toBe(6.5);
      expect(v.length).toBe(0); // transferred, so detached here
      expect(pool.threads).toBe(1);
    } finally {
      await pool.destroy();
    }
    await expect(pool.run(Float64Array.of(1))).rejects.toThrow(/closed/);
  });
});

describe('WorkerPool with a broken worker module', () => {
  it('rejects the task instead of crashing the process', async () => {
    writeFileSync(join(dir, 'broken.ts'), "throw new Error('module failed to load');\nexport default (): number => 1;\n");
    const pool = new WorkerPool<number, number>(pathToFileURL(join(dir, 'broken.js')), { maxThreads: 1 });
    try {
      // (piscina reports the failed load of a TypeScript module as an unknown file extension)
      await expect(pool.run(1)).rejects.toThrow(/worker thread failed/);
    } finally {
      await pool.destroy();
    }
  });
});
