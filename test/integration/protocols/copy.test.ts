// Integration test for the binary COPY encoder: a batch of every field type goes through
// `COPY ... FROM STDIN (FORMAT binary)` into real PostgreSQL with pgvector and reads back exactly.
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeCopy, type CopyColumnType } from '../../../protocols/copy.js';
import { decodeF16, encodeF16 } from '../../../protocols/embeddings.js';
import { PG_URL, pgvectorAvailable, uniqueName } from '../../support/services.js';

const available = await pgvectorAvailable();
const schema = uniqueName('hive_copy_test');

describe.skipIf(!available)('binary COPY into PostgreSQL', () => {
  let client: pg.Client;

  beforeAll(async () => {
    client = new pg.Client({ connectionString: PG_URL });
    await client.connect();
    await client.query('CREATE EXTENSION IF NOT EXISTS vector');
    await client.query(`CREATE SCHEMA "${schema}"`);
  });

  afterAll(async () => {
    if (!client) return;
    await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`).catch(() => undefined);
    await client.end().catch(() => undefined);
  });

  it('loads every field type and reads the values back exactly', async () => {
    await client.query(`CREATE TABLE "${schema}".t (
      id uuid, name text, meta jsonb, n int8, at timestamptz, v vector(3), h halfvec(3), i int4, b bool, f float8, raw bytea)`);
    const columns: CopyColumnType[] = ['uuid', 'text', 'jsonb', 'int8', 'timestamptz', 'vector', 'halfvec', 'int4', 'bool', 'float8', 'bytea'];
    const h = Float32Array.of(0.1234567, -3.14159, 1e-5);
    const rows = [
      ['6f1c2c1e-8d2a-4f5e-9b1a-0c2d3e4f5a6b', 'héllo 🙂 \t"quoted"', { a: 1, nested: { b: [true, null] } }, 2 ** 50 + 1, new Date('2026-11-27T12:34:56.789Z'), Float32Array.of(0.1, -0.2, 1e30), h, -5, true, 1 / 3, Uint8Array.of(0, 255)],
      [null, '', {}, -1, new Date('1970-01-01T00:00:00Z'), Float32Array.of(0, 0, 0), Float32Array.of(1, 2, 3), null, false, null, null],
    ];
    const buf = encodeCopy(columns, rows);
    const stream = client.query(copyFrom(`COPY "${schema}".t FROM STDIN (FORMAT binary)`));
    await pipeline(Readable.from([buf]), stream);
    expect(stream.rowCount).toBe(2);

    const r = await client.query(
      `SELECT id::text, name, meta, n::text, extract(epoch from at)::float8 * 1000 AS at_ms, v::text, h::real[] AS h, i, b, f, raw FROM "${schema}".t ORDER BY n DESC`,
    );
    const a = r.rows[0];
    expect(a.id).toBe('6f1c2c1e-8d2a-4f5e-9b1a-0c2d3e4f5a6b');
    expect(a.name).toBe('héllo 🙂 \t"quoted"');
    expect(a.meta).toEqual({ a: 1, nested: { b: [true, null] } });
    expect(a.n).toBe(String(2 ** 50 + 1));
    expect(a.at_ms).toBeCloseTo(Date.parse('2026-11-27T12:34:56.789Z'), 3);
    const v = (a.v as string).slice(1, -1).split(',').map(Number);
    expect(Float32Array.from(v)).toEqual(Float32Array.of(0.1, -0.2, 1e30));
    // halfvec comes back as exactly the f16 rounding of what we sent (within f16 error of the input).
    const expected = decodeF16(encodeF16(h));
    expect(Float32Array.from(a.h as number[])).toEqual(expected);
    for (let i = 0; i < h.length; i++) expect(Math.abs((a.h as number[])[i] - h[i])).toBeLessThanOrEqual(Math.max(Math.abs(h[i]) * 2 ** -11, 2 ** -25)); // 1e-5 is subnormal in f16
    expect(a.i).toBe(-5);
    expect(a.b).toBe(true);
    expect(a.f).toBe(1 / 3);
    expect(Array.from(a.raw as Buffer)).toEqual([0, 255]);
    const z = r.rows[1];
    expect([z.id, z.name, z.meta, z.n, z.at_ms, z.v, z.h, z.i, z.b, z.f, z.raw]).toEqual([null, '', {}, '-1', 0, '[0,0,0]', [1, 2, 3], null, false, null, null]);
  });

  it('loads a 1,000-row batch of 384-d halfvecs', async () => {
    await client.query(`CREATE TABLE "${schema}".docs (id int8, e halfvec(384))`);
    const rows = Array.from({ length: 1000 }, (_, i) => [i, Float32Array.from({ length: 384 }, (_, j) => Math.sin(i * 384 + j))]);
    const stream = client.query(copyFrom(`COPY "${schema}".docs FROM STDIN (FORMAT binary)`));
    await pipeline(Readable.from([encodeCopy(['int8', 'halfvec'], rows)]), stream);
    const r = await client.query(`SELECT count(*)::int AS n, (SELECT e::real[] FROM "${schema}".docs WHERE id = 999) AS e FROM "${schema}".docs`);
    expect(r.rows[0].n).toBe(1000);
    expect(Float32Array.from(r.rows[0].e as number[])).toEqual(decodeF16(encodeF16(rows[999][1] as Float32Array)));
  });
});
