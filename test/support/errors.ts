// Test helpers: the typed error a call fails with, and its stable code.
import { expect } from 'vitest';
import { HiveError } from '../../protocols/errors.js';

/** Awaits `p` (or calls `p`) and returns the HiveError it fails with; fails the test if it succeeds or throws something else. */
export async function errorOf(p: Promise<unknown> | (() => unknown)): Promise<HiveError> {
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (err) {
    expect(err).toBeInstanceOf(HiveError);
    return err as HiveError;
  }
  throw new Error('expected an error');
}

/** Awaits `p` (or calls `p`) and returns the `code` of the HiveError it fails with; fails the test if it succeeds. */
export async function codeOf(p: Promise<unknown> | (() => unknown)): Promise<string> {
  return (await errorOf(p)).code;
}
