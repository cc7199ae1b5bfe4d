// Unit tests for the binary COPY encoder: exact bytes of the header, trailer and each field type, sizing, and
// a decoder written here from the PostgreSQL documentation that reads whole batches back.
import { describe, expect, it } from 'vitest';
import { COPY_SIGNATURE, copySize, CopyWriter, encodeCopy, PG_EPOCH_MS, type CopyColumnType } from '../../../protocols/copy.js';
import { f16ToF32 } from '../../../protocols/embeddings.js';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

/** Reads a binary COPY stream into rows of raw field bytes (null for SQL NULL). */
function decode(buf: Buffer): (Buffer | null)[][] {
  expect(hex(buf.subarray(0, 11))).toBe(hex(COPY_SIGNATURE));
  expect(buf.readInt32BE(11)).toBe(0);
  let o = 15 + 4 + buf.readInt32BE(15);
  const rows: (Buffer | null)[][] = [];
  for (;;) {
    const n = buf.readInt16BE(o);
    o += 2;
    if (n === -1) break;
    const row: (Buffer | null)[] = [];
    for (let i = 0; i < n; i++) {
      const len = buf.readInt32BE(o);
      o += 4;
      if (len === -1) row.push(null);
      else {
        row.push(buf.subarray(o, o + len));
        o += len;
      }
    }
    rows.push(row);
  }
  expect(o).toBe(buf.length);
  return rows;
}

describe('CopyWriter', () => {
  it('writes the header and trailer exactly', () => {
    const buf = new CopyWriter(copySize.header + copySize.trailer).header().trailer().finish();
    expect(hex(buf)).toBe('5047434f50590aff0d0a00' + '00000000' + '00000000' + 'ffff');
  });

  it('encodes each field type to the documented bytes', () => {
    const w = new CopyWriter(
      copySize.row +
        copySize.text('hé') +
        copySize.jsonb('{"a":1}') +
        copySize.uuid +
        copySize.int8 +
        copySize.timestamptz +
        copySize.vector(2) +
        copySize.halfvec(2) +
        copySize.null +
        copySize.int4 +
        copySize.bool +
        copySize.float8 +
        copySize.bytea(2),
    );
    w.row(12)
      .text('hé')
      .jsonb('{"a":1}')
      .uuid('0123abcd-4567-89ef-0123-456789ABCDEF')
      .int8(-2)
      .timestamptz(PG_EPOCH_MS + 1.5)
      .vector(Float32Array.of(1, -2))
      .halfvec(Float32Array.of(1, -2))
      .null()
      .int4(7)
      .bool(true)
      .float8(0.5)
      .bytea(Uint8Array.of(9, 8));
    const buf = w.finish();
    const parts: string[] = [];
    let o = 2;
    expect(buf.readInt16BE(0)).toBe(12);
    while (o < buf.length) {
      const len = buf.readInt32BE(o);
      o += 4;
      if (len < 0) {
        parts.push('NULL');
        continue;
      }
      parts.push(hex(buf.subarray(o, o + len)));
      o += len;
    }
    expect(parts).toEqual([
      '68c3a9', // 'hé' in UTF-8
      '01' + Buffer.from('{"a":1}').toString('hex'), // jsonb version 1
      '0123abcd456789ef0123456789abcdef',
      'fffffffffffffffe',
      '00000000000005dc', // 1.5 ms = 1500 µs after 2000-01-01
      '0002' + '0000' + '3f800000' + 'c0000000',
      '0002' + '0000' + '3c00' + 'c000',
      'NULL',
      '00000007',
      '01',
      '3fe0000000000000',
      '0908',
    ]);
  });

  it('encodes int8 and timestamptz across the 32-bit boundary and before 2000', () => {
    const w = new CopyWriter(4 * copySize.int8);
    w.int8(2 ** 40 + 5).int8(-(2 ** 40) - 5).int8(123n).timestamptz(new Date('1999-12-31T23:59:59.999Z'));
    const buf = w.finish();
    expect(buf.readBigInt64BE(4)).toBe(BigInt(2 ** 40 + 5));
    expect(buf.readBigInt64BE(16)).toBe(BigInt(-(2 ** 40) - 5));
    expect(buf.readBigInt64BE(28)).toBe(123n);
    expect(buf.readBigInt64BE(40)).toBe(-1000n);
    expect(() => new CopyWriter(12).int8(2 ** 60)).toThrow(RangeError);
  });

  it('takes half bits for halfvec as they are', () => {
    const buf = new CopyWriter(copySize.halfvec(3)).halfvec(Uint16Array.of(0x3c00, 0x0001, 0xfbff)).finish();
    expect(hex(buf)).toBe('0000000a' + '0003' + '0000' + '3c00' + '0001' + 'fbff');
  });

  it('refuses a malformed uuid and a size mismatch', () => {
    expect(() => new CopyWriter(20).uuid('not-a-uuid')).toThrow(RangeError);
    expect(() => new CopyWriter(20).uuid('0123abcd-4567-89ef-0123-456789abcdeg')).toThrow(RangeError);
    expect(() => new CopyWriter(10).header()).toThrow(RangeError);
    expect(() => new CopyWriter(30).header().trailer().finish()).toThrow(/size mismatch/);
  });
});

describe('encodeCopy', () => {
  it('encodes a batch with NULLs into exactly sized bytes that decode back', () => {
    const columns: CopyColumnType[] = ['text', 'jsonb', 'int8', 'halfvec', 'vector', 'timestamptz'];
    const rows = [
      ['a', { x: [1, 'y'] }, 1, Float32Array.of(0.5, 0.25), Float32Array.of(0.1, 0.2), new Date(PG_EPOCH_MS)],
      [null, '{"k":"v"}', undefined, null, Float32Array.of(3), 0],
      ['emoji 🙂\n', null, 9n, Float32Array.of(1e-8, 70000), null, null],
    ];
    const buf = encodeCopy(columns, rows);
    const decoded = decode(buf);
    expect(decoded).toHaveLength(3);
    expect(decoded[0][0]!.toString()).toBe('a');
    expect(decoded[0][1]![0]).toBe(1);
    expect(JSON.parse(decoded[0][1]!.subarray(1).toString())).toEqual({ x: [1, 'y'] });
    expect(decoded[0][2]!.readBigInt64BE(0)).toBe(1n);
    const hv = decoded[0][3]!;
    expect([hv.readInt16BE(0), f16ToF32(hv.readUInt16BE(4)), f16ToF32(hv.readUInt16BE(6))]).toEqual([2, 0.5, 0.25]);
    expect(decoded[0][4]!.readFloatBE(4)).toBeCloseTo(0.1, 7);
    expect(decoded[0][5]!.readBigInt64BE(0)).toBe(0n);
    expect(decoded[1].map((f) => f === null)).toEqual([true, false, true, true, false, false]);
    expect(decoded[1][5]!.readBigInt64BE(0)).toBe(BigInt(-PG_EPOCH_MS) * 1000n);
    expect(decoded[2][0]!.toString()).toBe('emoji 🙂\n');
    const hv2 = decoded[2][3]!;
    expect(f16ToF32(hv2.readUInt16BE(4))).toBe(0); // underflow
    expect(f16ToF32(hv2.readUInt16BE(6))).toBe(Infinity); // overflow (validation rejects this before COPY)
  });

  it('encodes an empty batch as header plus trailer', () => {
    expect(encodeCopy(['text'], []).length).toBe(copySize.header + copySize.trailer);
  });

  it('refuses a row with the wrong number of values', () => {
    expect(() => encodeCopy(['text', 'int4'], [['a']])).toThrow(/row 0 has 1 values for 2 columns/);
  });
});
