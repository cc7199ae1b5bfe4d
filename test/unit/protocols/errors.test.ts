// Unit tests of the error classes: stable codes, retryable flags, causes, and the wire round trip.
import { describe, expect, it } from 'vitest';
import {
  ActorFailedError,
  ActorStoppedError,
  BadFrameError,
  CircuitOpenError,
  ConfigError,
  DatabaseError,
  DuplicateActorError,
  ErrorCodes,
  HiveError,
  PermissionDeniedError,
  TaskIdConflictError,
  InvalidArgumentError,
  InvalidEventError,
  InvalidIdError,
  NoSuchActorError,
  OverloadedError,
  TimeoutError,
  TooLargeError,
  UnavailableError,
  errorFromReply,
  isErrorReply,
  toErrorReply,
  toHiveError,
  type HiveErrorOptions,
} from '../../../protocols/errors.js';

type ErrorClass = new (message: string, options?: HiveErrorOptions) => HiveError;

const CLASSES: Array<[ErrorClass, string, boolean]> = [
  [BadFrameError, 'BAD_FRAME', false],
  [TooLargeError, 'TOO_LARGE', false],
  [NoSuchActorError, 'NO_SUCH_ACTOR', false],
  [TimeoutError, 'TIMEOUT', true],
  [OverloadedError, 'OVERLOADED', true],
  [InvalidEventError, 'INVALID_EVENT', false],
  [CircuitOpenError, 'CIRCUIT_OPEN', true],
  [InvalidIdError, 'INVALID_ID', false],
  [DuplicateActorError, 'DUPLICATE_ACTOR', false],
  [ConfigError, 'INVALID_CONFIG', false],
  [ActorFailedError, 'ACTOR_FAILED', false],
  [ActorStoppedError, 'ACTOR_STOPPED', false],
  [UnavailableError, 'UNAVAILABLE', true],
  [InvalidArgumentError, 'INVALID_ARGUMENT', false],
  [DatabaseError, 'DATABASE', true],
  [PermissionDeniedError, 'PERMISSION_DENIED', false],
  [TaskIdConflictError, 'TASK_ID_CONFLICT', false],
];

describe('errors - classes', () => {
  it('give every class its stable code, retryable flag, name and cause', () => {
    for (const [Cls, code, retryable] of CLASSES) {
      const cause = new Error('root');
      const e = new Cls('went wrong', { cause, details: { id: 'a1' } });
      expect(e).toBeInstanceOf(HiveError);
      expect(e).toBeInstanceOf(Error);
      expect(e.code).toBe(code);
      expect(ErrorCodes).toContain(code);
      expect(e.retryable).toBe(retryable);
      expect(e.name).toBe(Cls.name);
      expect(e.message).toBe('went wrong');
      expect(e.cause).toBe(cause);
      expect(e.details).toEqual({ id: 'a1' });
    }
  });

  it('lets a caller override retryable', () => {
    expect(new OverloadedError('full', { retryable: false }).retryable).toBe(false);
    expect(new BadFrameError('bad', { retryable: true }).retryable).toBe(true);
  });
});

describe('errors - wire round trip', () => {
  it('rebuilds the same class with the same code, message, retryable and details', () => {
    for (const [Cls] of CLASSES) {
      const e = new Cls(`a ${Cls.name}`, { details: { what: 'x', n: 1 } });
      const reply = toErrorReply(e);
      expect(isErrorReply(reply)).toBe(true);
      expect(reply).toEqual({ type: 'hive.error', code: e.code, message: e.message, retryable: e.retryable, details: { what: 'x', n: 1 } });
      const back = errorFromReply(JSON.parse(JSON.stringify(reply)) as typeof reply);
      expect(back).toBeInstanceOf(Cls);
      expect(back.code).toBe(e.code);
      expect(back.message).toBe(e.message);
      expect(back.retryable).toBe(e.retryable);
      expect(back.details).toEqual(e.details);
    }
  });

  it('omits details when there are none', () => {
    const reply = toErrorReply(new TimeoutError('late'));
    expect('details' in reply).toBe(false);
    expect(errorFromReply(reply).details).toBeUndefined();
  });

  it('keeps the code of every stable code, with or without a class of its own', () => {
    for (const code of ErrorCodes) {
      const back = errorFromReply({ type: 'hive.error', code, message: code });
      expect(back).toBeInstanceOf(HiveError);
      expect(back.code).toBe(code);
    }
  });

  it('turns unknown codes into a HiveError keeping the code', () => {
    for (const code of ['SOMETHING_NEW', 'not_even_upper']) {
      const back = errorFromReply({ type: 'hive.error', code, message: 'm', retryable: true });
      expect(back.constructor).toBe(HiveError);
      expect(back.code).toBe(code);
      expect(back.message).toBe('m');
      expect(back.retryable).toBe(true);
    }
  });

  it('turns anything thrown into an INTERNAL error reply, keeping the original as cause', () => {
    const plain = new Error('boom');
    const h = toHiveError(plain);
    expect(h.code).toBe('INTERNAL');
    expect(h.message).toBe('boom');
    expect(h.cause).toBe(plain);
    expect(toHiveError('text').message).toBe('text');
    const known = new TimeoutError('late');
    expect(toHiveError(known)).toBe(known);
    expect(toErrorReply(42)).toMatchObject({ type: 'hive.error', code: 'INTERNAL', message: '42', retryable: false });
  });

  it('recognises only objects shaped like an error reply', () => {
    expect(isErrorReply({ type: 'hive.error', code: 'X', message: 'm' })).toBe(true);
    for (const v of [null, 'hive.error', {}, { type: 'hive.error', code: 1, message: 'm' }, { type: 'other', code: 'X', message: 'm' }]) {
      expect(isErrorReply(v)).toBe(false);
    }
  });

  it('rebuilds an error class by an own-property lookup only: "constructor" or "__proto__" stay plain HiveErrors', () => {
    for (const code of ['constructor', '__proto__', 'toString', 'hasOwnProperty', 'valueOf']) {
      const e = errorFromReply({ type: 'hive.error', code, message: 'forged' });
      expect(e).toBeInstanceOf(HiveError);
      expect(Object.getPrototypeOf(e)).toBe(HiveError.prototype);
      expect(e.code).toBe(code);
      expect(e.message).toBe('forged');
    }
  });
});
