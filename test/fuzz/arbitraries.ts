// Shared fast-check generators for the fuzz suite: random and mutated frames, envelopes, JSON events,
// memory requests and pool submissions. Runs per property: HIVE_FUZZ_RUNS (default small, so `npm test`
// stays fast); `npm run fuzz` runs many more.
import fc from 'fast-check';
import { FrameCodec } from '../../protocols/frame.js';

/** Runs per property: `HIVE_FUZZ_RUNS`, else `fallback`. */
export function fuzzRuns(fallback: number): number {
  const n = Number(process.env['HIVE_FUZZ_RUNS']);
  return Number.isInteger(n) && n > 0 ? n : fallback;
}

/** Seed from `HIVE_FUZZ_SEED` (to replay a failure fast-check reported), else random. */
export function fuzzParams(fallbackRuns: number): fc.Parameters<unknown> {
  const seed = Number(process.env['HIVE_FUZZ_SEED']);
  return { numRuns: fuzzRuns(fallbackRuns), ...(Number.isInteger(seed) && { seed }) };
}

const encoder = new TextEncoder();
const codec = new FrameCodec();

/** Event types worth hitting: ordinary ones, Hive's and xstate's internal ones, memory and pool requests. */
export const eventTypes = fc.constantFrom(
  'ping', 'echo', 'inc', 'note', 'notes', 'greet', 'xstate.stop', 'xstate.error.actor.x', 'xstate.done.actor.y', 'xstate.init',
  'hive.spawn', 'hive.task.result', 'child.failed', 'agent.drain', 'agent.task', 'memory.ingest', 'memory.search', 'memory.delete',
  'memory.stats', '', 'constructor', '__proto__',
);

/** Values a hostile sender might put in fields: anything JSON, odd numbers, long strings, typed arrays. */
export const fieldValue: fc.Arbitrary<unknown> = fc.oneof(
  fc.jsonValue({ maxDepth: 3 }),
  fc.constantFrom(-1, 0, 1e308, -1e308, Number.MAX_SAFE_INTEGER + 2, 0.5, '', 'a.b', '*', '>', 'x'.repeat(300)),
  fc.float32Array({ maxLength: 16 }),
  fc.uint8Array({ maxLength: 16 }),
);

/** Event-shaped objects: a (maybe hostile) type plus random fields. */
export const eventLike: fc.Arbitrary<Record<string, unknown>> = fc
  .tuple(eventTypes, fc.dictionary(fc.constantFrom('by', 'text', 'name', 'id', 'namespace', 'docs', 'k', 'vector', 'ids', 'filter', 'wait', 'n', 'ms', 'task', 'key'), fieldValue, { maxKeys: 5 }))
  .map(([type, fields]) => ({ ...fields, type }));

/** Memory requests with random, often wrong, fields. */
export const memoryRequest: fc.Arbitrary<Record<string, unknown>> = fc.record(
  {
    type: fc.constantFrom('memory.ingest', 'memory.search', 'memory.delete', 'memory.stats'),
    namespace: fc.oneof(fc.constantFrom('default', 'fz', 'a.b', '', 'x'.repeat(200)), fieldValue),
    text: fc.oneof(fc.string({ maxLength: 40 }), fieldValue),
    k: fc.oneof(fc.integer({ min: -5, max: 5000 }), fieldValue),
    ids: fc.oneof(fc.array(fc.string({ maxLength: 8 }), { maxLength: 4 }), fieldValue),
    docs: fc.oneof(
      fc.array(fc.record({ content: fc.oneof(fc.string({ maxLength: 40 }), fieldValue), id: fieldValue, namespace: fieldValue, metadata: fieldValue, embedding: fieldValue }, { requiredKeys: [] }), { maxLength: 3 }),
      fieldValue,
    ),
    vector: fieldValue,
    filter: fieldValue,
    wait: fieldValue,
  },
  { requiredKeys: ['type'] },
);

/** Pool submissions: `{ task, id?, key?, timeoutMs?, wait? }` with random fields, or anything at all. */
export const poolSubmission: fc.Arbitrary<unknown> = fc.oneof(
  fc.record({ task: fc.jsonValue({ maxDepth: 2 }), id: fieldValue, key: fieldValue, timeoutMs: fieldValue, wait: fc.constant(true) }, { requiredKeys: ['task'] }),
  fc.jsonValue({ maxDepth: 2 }),
);

/** Envelope-shaped values: right and wrong versions, kinds, correlation ids, deadlines, events. */
export const envelopeLike: fc.Arbitrary<unknown> = fc.record(
  {
    v: fc.oneof(fc.constant(1), fieldValue),
    k: fc.oneof(fc.constantFrom('t', 'a', 'r', 'c', 'x'), fieldValue),
    e: fc.oneof(eventLike, memoryRequest, fieldValue),
    c: fc.oneof(fc.string({ maxLength: 30 }), fieldValue),
    d: fc.oneof(fc.integer({ min: -1e6, max: 1e6 }).map((x) => Date.now() + x), fieldValue),
    ok: fieldValue,
    err: fieldValue,
  },
  { requiredKeys: [] },
);

/** Mutates bytes: flips, truncates, extends. */
export function mutated(base: fc.Arbitrary<Uint8Array>): fc.Arbitrary<Uint8Array> {
  return fc.tuple(base, fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 6 }), fc.option(fc.nat(), { nil: undefined }), fc.uint8Array({ maxLength: 8 })).map(([b, flips, cut, tail]) => {
    let out = Uint8Array.from(b);
    for (const [at, v] of flips) if (out.length > 0) out[at % out.length] = v;
    if (cut !== undefined && out.length > 0) out = out.subarray(0, cut % out.length);
    if (tail.length > 0) out = Uint8Array.from([...out, ...tail]);
    return out;
  });
}

/** Binary frames of envelope-like values (valid framing, hostile content). */
export const frames: fc.Arbitrary<Uint8Array> = envelopeLike.map((v) => {
  try {
    return codec.encode(v);
  } catch {
    return codec.encode({ v: 1, k: 't', e: { type: 'ping' } });
  }
});

/** Any payload a subject might receive: random bytes, JSON text, frames, mutated frames, mutated JSON. */
export const payload: fc.Arbitrary<Uint8Array> = fc.oneof(
  fc.uint8Array({ maxLength: 64 }),
  fc.jsonValue({ maxDepth: 3 }).map((v) => encoder.encode(JSON.stringify(v))),
  eventLike.map((v) => encoder.encode(JSON.stringify(v))),
  memoryRequest.map((v) => encoder.encode(JSON.stringify(v))),
  poolSubmission.map((v) => encoder.encode(JSON.stringify(v))),
  frames,
  mutated(frames),
  mutated(eventLike.map((v) => encoder.encode(JSON.stringify(v)))),
);
