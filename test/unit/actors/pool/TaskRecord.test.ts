// Unit tests of a task outcome's binding to its submission: the digest of task and key, and what a
// submission with a known id is answered with.
import { describe, expect, it } from 'vitest';
import { errorFromReply, TaskIdConflictError } from '../../../../protocols/errors.js';
import { isTaskOutcome, outcomeFor, taskDigest, type TaskOutcome } from '../../../../actors/pool/TaskRecord.js';

const stored = (digest: string | undefined): TaskOutcome => ({ type: 'hive.task.result', id: 't1', pool: 'p', ok: true, result: { secret: 's' }, attempts: 1, finishedAt: 5, ...(digest !== undefined && { digest }) });

describe('TaskRecord - digest', () => {
  it('is the same for the same task and key whatever the key order of its objects, and differs otherwise', () => {
    const d = taskDigest({ a: 1, b: { c: [1, { x: 1, y: 2 }] } }, 'k');
    expect(d).toMatch(/^[0-9a-f]{64}$/);
    expect(taskDigest({ b: { c: [1, { y: 2, x: 1 }] }, a: 1 }, 'k')).toBe(d);
    expect(taskDigest({ a: 1, b: { c: [1, { x: 1, y: 2 }] } }, undefined)).not.toBe(d);
    expect(taskDigest({ a: 1, b: { c: [{ x: 1, y: 2 }, 1] } }, 'k')).not.toBe(d);
    expect(taskDigest({ a: 2, b: { c: [1, { x: 1, y: 2 }] } }, 'k')).not.toBe(d);
    expect(taskDigest(undefined, undefined)).toBe(taskDigest(null, undefined));
  });
});

describe('TaskRecord - outcomeFor', () => {
  it('answers the same submission with the stored outcome', () => {
    const o = stored('d1');
    expect(outcomeFor(o, 'd1', 9)).toBe(o);
  });

  it('answers another submission, or any when the stored outcome has no digest, with TASK_ID_CONFLICT and none of the result', () => {
    for (const [digest, asked] of [['d1', 'd2'], ['d1', undefined], [undefined, 'd2'], [undefined, undefined]] as const) {
      const answer = outcomeFor(stored(digest), asked, 9);
      expect(answer.ok).toBe(false);
      expect(answer.result).toBeUndefined();
      expect(JSON.stringify(answer)).not.toContain('secret');
      expect(answer.digest).toBe(asked);
      const err = errorFromReply(answer.error!);
      expect(err).toBeInstanceOf(TaskIdConflictError);
      expect(err.retryable).toBe(false);
      expect(err.details).toEqual({ task: 't1', pool: 'p' });
    }
  });
});

describe('TaskRecord - outcomes from the wire', () => {
  it('takes only what has the shape of a task outcome (a waiter is never settled with anything else)', () => {
    expect(isTaskOutcome(stored(undefined))).toBe(true);
    expect(isTaskOutcome(stored('d'))).toBe(true);
    for (const bad of [null, 5, 'x', [], { id: 't1' }, { ...stored(undefined), type: 'hive.error' }, { ...stored(undefined), id: 1 }, { ...stored(undefined), ok: 'yes' }, { ...stored(undefined), attempts: '1' }, { ...stored(undefined), pool: undefined }]) {
      expect(isTaskOutcome(bad)).toBe(false);
    }
  });
});
