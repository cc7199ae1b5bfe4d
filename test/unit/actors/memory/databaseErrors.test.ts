// Unit tests for mapping driver errors to DatabaseError: retryable for connection trouble and transient
// server states, not retryable for data errors; HiveErrors pass through.
import { describe, expect, it } from 'vitest';
import { toDatabaseError } from '../../../../actors/memory/databaseErrors.js';
import { DatabaseError, InvalidArgumentError, errorFromReply } from '../../../../protocols/errors.js';

const withCode = (message: string, code: string) => Object.assign(new Error(message), { code });

describe('toDatabaseError', () => {
  it('marks connection failures retryable', () => {
    const e = toDatabaseError(withCode('connect ECONNREFUSED 127.0.0.1:1', 'ECONNREFUSED'), 'init');
    expect(e).toBeInstanceOf(DatabaseError);
    expect(e.code).toBe('DATABASE');
    expect(e.retryable).toBe(true);
    expect(e.message).toBe('memory init failed: connect ECONNREFUSED 127.0.0.1:1');
    expect(e.details).toEqual({ action: 'init', errno: 'ECONNREFUSED' });
    const agg = Object.assign(new AggregateError([withCode('a', 'ECONNREFUSED')], ''), {});
    expect(toDatabaseError(agg, 'ingest').retryable).toBe(true);
    expect(toDatabaseError(new Error('Connection terminated unexpectedly'), 'search').retryable).toBe(true);
    expect(toDatabaseError(new Error('timeout exceeded when trying to connect'), 'search').retryable).toBe(true);
  });

  it('marks transient SQLSTATEs retryable and data errors not', () => {
    for (const code of ['08006', '57P01', '57P03', '53300', '40001', '40P01']) expect(toDatabaseError(withCode('x', code), 'ingest').retryable).toBe(true);
    for (const code of ['22P02', '23505', '42P01']) {
      const e = toDatabaseError(withCode('x', code), 'ingest');
      expect(e.retryable).toBe(false);
      expect(e.details?.['sqlState']).toBe(code);
    }
  });

  it('passes Hive errors through and survives the wire', () => {
    const own = new InvalidArgumentError('bad k');
    expect(toDatabaseError(own, 'search')).toBe(own);
    const back = errorFromReply(toDatabaseError(withCode('down', 'ECONNREFUSED'), 'init').toReply());
    expect(back).toBeInstanceOf(DatabaseError);
    expect(back.retryable).toBe(true);
  });
});
