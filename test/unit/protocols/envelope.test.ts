// Unit tests of envelope parsing (BAD_FRAME for a malformed envelope) and event validation (INVALID_EVENT).
import { describe, expect, it } from 'vitest';
import { ENVELOPE_VERSION, parseEnvelope, validateEvent } from '../../../protocols/envelope.js';
import { HiveError } from '../../../protocols/errors.js';

function thrown(fn: () => unknown): HiveError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(HiveError);
    return err as HiveError;
  }
  throw new Error('expected a throw');
}

describe('envelope - parseEnvelope', () => {
  it('accepts a tell, an ask and both kinds of reply and returns them as they are', () => {
    const tell = { v: 1, k: 't', e: { type: 'inc' }, f: 'sender' };
    expect(parseEnvelope(tell)).toBe(tell);
    const ask = { v: 1, k: 'a', e: { type: 'get' }, c: 'c42', d: Date.now() + 1000 };
    expect(parseEnvelope(ask)).toBe(ask);
    expect(parseEnvelope({ v: 1, k: 'r', c: 'c42', ok: { type: 'value', n: 3 } })).toMatchObject({ k: 'r' });
    expect(parseEnvelope({ v: 1, k: 'r', err: { type: 'hive.error', code: 'TIMEOUT', message: 'late' } })).toMatchObject({ k: 'r' });
    expect(ENVELOPE_VERSION).toBe(1);
  });

  it('tolerates unknown extra fields', () => {
    expect(parseEnvelope({ v: 1, k: 't', e: { type: 'x' }, future: true })).toMatchObject({ k: 't' });
  });

  it('leaves the event type check to validateEvent', () => {
    expect(parseEnvelope({ v: 1, k: 't', e: {} })).toMatchObject({ e: {} });
    expect(parseEnvelope({ v: 1, k: 'a', c: 'c1', e: { type: 7 } })).toMatchObject({ c: 'c1' });
  });

  it('refuses a malformed envelope as BAD_FRAME with a message naming the problem', () => {
    const cases: Array<[unknown, RegExp]> = [
      [null, /must be an object/],
      ['hello', /must be an object/],
      [[1, 't'], /must be an object/],
      [{ k: 't', e: { type: 'x' } }, /version/],
      [{ v: 2, k: 't', e: { type: 'x' } }, /version 2/],
      [{ v: '1', k: 't', e: { type: 'x' } }, /version/],
      [{ v: 1, e: { type: 'x' } }, /kind/],
      [{ v: 1, k: 'x', e: { type: 'x' } }, /kind "x"/],
      [{ v: 1, k: 't' }, /event object/],
      [{ v: 1, k: 't', e: 'ping' }, /event object/],
      [{ v: 1, k: 't', e: [] }, /event object/],
      [{ v: 1, k: 't', e: { type: 'x' }, f: 5 }, /"f"/],
      [{ v: 1, k: 'a', e: { type: 'x' } }, /correlation id/],
      [{ v: 1, k: 'a', e: { type: 'x' }, c: 12 }, /correlation id/],
      [{ v: 1, k: 'a', e: { type: 'x' }, c: '' }, /correlation id/],
      [{ v: 1, k: 'a', c: 'c1' }, /event object/],
      [{ v: 1, k: 'a', e: { type: 'x' }, c: 'c1', d: 'soon' }, /deadline/],
      [{ v: 1, k: 'r', c: 'c1' }, /neither/],
      [{ v: 1, k: 'r', c: 3, ok: {} }, /"c"/],
      [{ v: 1, k: 'r', ok: 'yes' }, /"ok"/],
      [{ v: 1, k: 'r', err: { message: 'no code' } }, /"err"/],
    ];
    for (const [value, message] of cases) {
      const err = thrown(() => parseEnvelope(value));
      expect(err.code, JSON.stringify(value)).toBe('BAD_FRAME');
      expect(err.message).toMatch(message);
    }
  });
});

describe('envelope - validateEvent', () => {
  it('accepts a plain object with a non-empty string type', () => {
    const e = { type: 'ping', extra: [1] };
    expect(validateEvent(e)).toBe(e);
    expect(validateEvent(Object.assign(Object.create(null) as object, { type: 'bare' }))).toMatchObject({ type: 'bare' });
  });

  it('refuses anything else as INVALID_EVENT showing what was received', () => {
    const cases: Array<[unknown, RegExp]> = [
      [null, /null/],
      [undefined, /nothing/],
      ['ping', /"ping"/],
      [42, /got 42/],
      [[{ type: 'x' }], /array/],
      [new Map([['type', 'x']]), /Map/],
      [{}, /type/],
      [{ type: '' }, /""/],
      [{ type: 5 }, /got 5/],
      [{ type: null }, /null/],
    ];
    for (const [value, message] of cases) {
      const err = thrown(() => validateEvent(value));
      expect(err.code).toBe('INVALID_EVENT');
      expect(err.message).toMatch(message);
    }
  });
});
