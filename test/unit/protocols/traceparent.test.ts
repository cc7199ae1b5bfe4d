import { describe, expect, it } from 'vitest';
import { parseEnvelope } from '../../../protocols/envelope.js';
import { formatTraceparent, parseTraceparent } from '../../../protocols/traceparent.js';
import type { HiveError } from '../../../protocols/errors.js';

describe('traceparent', () => {
  const tp = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
  it('parses and formats version 00', () => {
    expect(parseTraceparent(tp)).toEqual({ traceId: '4bf92f3577b34da6a3ce929d0e0e4736', spanId: '00f067aa0ba902b7', flags: 1 });
    expect(formatTraceparent(parseTraceparent(tp)!)).toBe(tp);
  });

  it('ignores what is not a valid traceparent (W3C: start a new trace)', () => {
    for (const bad of [
      undefined,
      42,
      '',
      tp.toUpperCase(),
      '00-00000000000000000000000000000000-00f067aa0ba902b7-01',
      '00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01',
      'ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
      `${tp}-extra`,
      'x'.repeat(300),
    ]) {
      expect(parseTraceparent(bad), String(bad)).toBeUndefined();
    }
    // a later version may append fields
    expect(parseTraceparent('01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-future')?.spanId).toBe('00f067aa0ba902b7');
  });

  it('travels in the envelope field t, which must be a short string', () => {
    expect(parseEnvelope({ v: 1, k: 'a', e: { type: 'ping' }, c: 'x', t: tp })).toMatchObject({ t: tp });
    expect(parseEnvelope({ v: 1, k: 't', e: { type: 'ping' }, t: tp })).toMatchObject({ t: tp });
    for (const t of [42, 'x'.repeat(300)]) {
      let caught: unknown;
      try {
        parseEnvelope({ v: 1, k: 'a', e: { type: 'ping' }, c: 'x', t });
      } catch (err) {
        caught = err;
      }
      expect((caught as HiveError).code).toBe('BAD_FRAME');
      expect((caught as HiveError).message).toContain('"t"');
    }
  });
});
