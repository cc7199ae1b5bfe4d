// Values from the wire are data (issue 12): whatever a sender packs, decoding yields JSON-like values plus
// Uint8Array and Float32Array; BigInt, Set, Map, RegExp, Error, other typed arrays, ArrayBuffer and DataView
// are refused with BAD_FRAME naming where they sit, Dates arrive as epoch milliseconds.
import { Packr } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import { BadFrameError } from '../../../protocols/errors.js';
import { FrameCodec } from '../../../protocols/frame.js';

// What a hostile sender can write: msgpackr with every extension it knows.
const hostile = new Packr({ moreTypes: true, useRecords: false, structuredClone: false });
function frameOf(value: unknown): Uint8Array {
  const body = hostile.pack(value);
  const f = new Uint8Array(body.length + 2);
  f[0] = 0xc1;
  f[1] = 0x01;
  f.set(body, 2);
  return f;
}

function refusal(value: unknown): BadFrameError {
  const codec = new FrameCodec();
  try {
    codec.decode(frameOf(value));
  } catch (err) {
    expect(err).toBeInstanceOf(BadFrameError);
    expect(codec.stats.rejected).toBe(1);
    return err as BadFrameError;
  }
  throw new Error('the frame was accepted');
}

describe('frame values from the wire', () => {
  it.each([
    ['BigInt', { type: 'inc', by: 10n ** 30n }, 'by'],
    ['Set', { type: 'x', s: new Set([1, 2]) }, 's'],
    ['RegExp', { type: 'x', r: /a+/g }, 'r'],
    ['Error', { type: 'x', e: new TypeError('boom') }, 'e'],
    ['Float64Array', { type: 'x', f: new Float64Array(3) }, 'f'],
    ['BigInt64Array', { type: 'x', f: new BigInt64Array(2) }, 'f'],
    ['Int16Array', { type: 'x', f: new Int16Array(2) }, 'f'],
    ['ArrayBuffer', { type: 'x', b: new ArrayBuffer(4) }, 'b'],
    ['DataView', { type: 'x', b: new DataView(new ArrayBuffer(4)) }, 'b'],
  ])('refuses a %s with BAD_FRAME naming its path', (_name, value, path) => {
    const err = refusal(value);
    expect(err.code).toBe('BAD_FRAME');
    expect(err.details?.['path']).toBe(path);
  });

  it('names nested paths and refuses a top-level class instance', () => {
    expect(refusal({ type: 'x', list: [1, { deep: new Set() }] }).details?.['path']).toBe('list[1].deep');
    expect(refusal(new Set([1])).details?.['path']).toBe('body');
    expect(refusal(10n ** 20n).code).toBe('BAD_FRAME');
  });

  it('refuses bodies nested deeper than 512 levels', () => {
    let v: unknown = 1;
    for (let i = 0; i < 600; i++) v = [v];
    expect(refusal(v).message).toMatch(/deeper than 512/);
  });

  it('keeps data: Uint8Array, Float32Array, undefined, and reads Dates as epoch ms', () => {
    const codec = new FrameCodec();
    const v = { type: 'x', e: new Float32Array([1, 2]), b: new Uint8Array([1]), u: undefined, at: new Date(5), list: [new Date(7)] };
    const back = codec.decode(frameOf(v)) as Record<string, unknown>;
    expect(back['e']).toBeInstanceOf(Float32Array);
    expect(back['b']).toBeInstanceOf(Uint8Array);
    expect(back['at']).toBe(5);
    expect(back['list']).toEqual([7]);
    expect(codec.decode(frameOf(new Date(9)))).toBe(9);
    // a Map is a msgpack map: it arrives as a plain object; an int64 as a number
    const m = codec.decode(frameOf({ type: 'x', m: new Map<unknown, unknown>([[1, 2]]), n: 12n })) as Record<string, unknown>;
    expect(Object.getPrototypeOf(m['m'])).toBe(Object.prototype);
    expect(m['m']).toEqual({ 1: 2 });
    expect(m['n']).toBe(12);
  });

  it('never rebuilds a prototype from a __proto__ key', () => {
    const codec = new FrameCodec();
    const body = [0x81, 0xa9, ...Buffer.from('__proto__'), 0x81, 0xa1, 0x78, 0x01];
    const f = Uint8Array.from([0xc1, 0x01, ...body]);
    const back = codec.decode(f) as Record<string, unknown>;
    expect(Object.getPrototypeOf(back)).toBe(Object.prototype);
    expect(({} as Record<string, unknown>)['x']).toBeUndefined();
  });
});
