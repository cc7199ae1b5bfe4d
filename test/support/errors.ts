// Test helper: the stable code of the typed error a call fails with.
import { expect } from 'vitest';
import { HiveError } from '../../protocols/errors.js';

/** Awaits `p` (or calls `p`) and returns the `code` of the HiveError it fails with; fails the test if it succeeds. */
export async function codeOf(p: Promise<unknown> | (() => unknown)): Promise<string> {
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (err) {
    expect(err).toBeInstanceOf(HiveError);
    return (err as HiveError).code;
  }
  throw new Error('expected an error');
}
