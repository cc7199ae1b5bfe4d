import { describe, expect, it } from 'vitest';
import { restartSet, wantsRestart } from '../../../../actors/supervisor/strategy.js';

describe('supervision strategies', () => {
  const order = ['a', 'b', 'c', 'd'];

  it('one-for-one restarts only the failed child', () => {
    expect(restartSet('one-for-one', order, 'c')).toEqual(['c']);
  });

  it('all-for-one restarts every child in start order', () => {
    expect(restartSet('all-for-one', order, 'c')).toEqual(['a', 'b', 'c', 'd']);
  });

  it('rest-for-one restarts the failed child and those started after it, in start order', () => {
    expect(restartSet('rest-for-one', order, 'b')).toEqual(['b', 'c', 'd']);
    expect(restartSet('rest-for-one', order, 'd')).toEqual(['d']);
    expect(restartSet('rest-for-one', order, 'a')).toEqual(order);
  });

  it('follows Erlang restart policies', () => {
    expect([wantsRestart('permanent', 'failed'), wantsRestart('permanent', 'done'), wantsRestart('permanent', 'escalated')]).toEqual([true, true, true]);
    expect([wantsRestart('transient', 'failed'), wantsRestart('transient', 'done'), wantsRestart('transient', 'escalated')]).toEqual([true, false, true]);
    expect([wantsRestart('temporary', 'failed'), wantsRestart('temporary', 'done'), wantsRestart('temporary', 'escalated')]).toEqual([false, false, false]);
  });
});
