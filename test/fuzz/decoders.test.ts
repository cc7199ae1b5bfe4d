// Fuzz suite, decoders (issue 12): random and mutated frames, envelopes, JSON events, memory requests,
// documents, JSONL lines and ingestion-queue messages. Every input either decodes to data or is refused with
// a typed error (a HiveError with a stable code, or the documented plain Error for queue messages); nothing
// else escapes, nothing hangs. `HIVE_FUZZ_RUNS=20000 npm run fuzz` runs it longer.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseJsonlLine } from '../../cluster/commands/memory.js';
import { validateDocument } from '../../actors/memory/Document.js';
import { decodeQueueMessage } from '../../actors/memory/ingestMessage.js';
import { parseDelete, parseIngest, parseSearch, parseStats } from '../../actors/memory/memoryProtocol.js';
import { scopeToNamespace } from '../../actors/memory/namespaceScope.js';
import { parseEnvelope, validateWireEvent } from '../../protocols/envelope.js';
import { ErrorCodes, HiveError } from '../../protocols/errors.js';
import { FrameCodec, decodeJson } from '../../protocols/frame.js';
import { envelopeLike, eventLike, fieldValue, frames, fuzzParams, memoryRequest, mutated, payload } from './arbitraries.js';

const codes = new Set<string>(ErrorCodes);

/** Runs `fn`; a throw must be a HiveError with a stable code. Returns the value or undefined. */
function typed<T>(fn: () => T): T | undefined {
  try {
    return fn();
  } catch (err) {
    expect(err).toBeInstanceOf(HiveError);
    expect(codes.has((err as HiveError).code), (err as HiveError).code).toBe(true);
    return undefined;
  }
}

/** True when `v` holds only data: JSON-like values, Uint8Array, Float32Array. */
function isData(v: unknown, depth = 0): boolean {
  if (depth > 600) return false;
  if (v === null || ['string', 'number', 'boolean', 'undefined'].includes(typeof v)) return true;
  if (typeof v !== 'object') return false;
  if (v instanceof Uint8Array || v instanceof Float32Array) return true;
  if (Array.isArray(v)) return v.every((x) => isData(x, depth + 1));
  if (Object.getPrototypeOf(v) !== Object.prototype) return false;
  return Object.values(v).every((x) => isData(x, depth + 1));
}

const RUNS = 300;

describe('fuzz: decoders', () => {
  it('frames: random, valid and mutated bytes decode to data or BAD_FRAME / TOO_LARGE', () => {
    const codec = new FrameCodec({ maxMessageBytes: 64 * 1024 });
    fc.assert(
      fc.property(fc.oneof(payload, mutated(frames), fc.uint8Array({ maxLength: 256 }).map((b) => Uint8Array.from([0xc1, 0x01, ...b]))), (bytes) => {
        const v = typed(() => codec.decode(bytes));
        if (v !== undefined) expect(isData(v)).toBe(true);
      }),
      fuzzParams(RUNS),
    );
  });

  it('JSON payloads decode or fail with BAD_FRAME / TOO_LARGE', () => {
    fc.assert(
      fc.property(payload, (bytes) => {
        typed(() => decodeJson(bytes, 64 * 1024));
      }),
      fuzzParams(RUNS),
    );
  });

  it('envelopes and wire events: parsed, or BAD_FRAME / INVALID_EVENT; internal types never pass', () => {
    fc.assert(
      fc.property(fc.oneof(envelopeLike, fieldValue, eventLike), (value) => {
        const env = typed(() => parseEnvelope(value));
        if (env !== undefined && (env.k === 't' || env.k === 'a')) {
          const event = typed(() => validateWireEvent(env.e));
          if (event !== undefined) expect(/^(xstate|hive)\./.test(event.type)).toBe(false);
        }
      }),
      fuzzParams(RUNS),
    );
  });

  it('memory requests: parsed, scoped to a namespace, or refused with a typed error', () => {
    fc.assert(
      fc.property(memoryRequest, fc.constantFrom('default', 'fz'), (request, ns) => {
        const e = request as Record<string, unknown> & { type: string };
        typed(() => scopeToNamespace(e, ns));
        switch (e.type) {
          case 'memory.ingest':
            typed(() => parseIngest(e, 1000));
            break;
          case 'memory.search':
            typed(() => parseSearch(e));
            break;
          case 'memory.delete':
            typed(() => parseDelete(e));
            break;
          default:
            typed(() => parseStats(e));
        }
      }),
      fuzzParams(RUNS),
    );
  });

  it('documents: valid, or rejected naming the field (never a throw)', () => {
    fc.assert(
      fc.property(fc.oneof(fieldValue, memoryRequest.map((r) => (Array.isArray(r['docs']) ? (r['docs'] as unknown[])[0] : r))), (doc) => {
        const r = validateDocument(doc, { dims: 4, maxContentBytes: 1024, storage: 'halfvec', now: () => 0 });
        if (!r.ok) expect(typeof r.rejection.reason).toBe('string');
      }),
      fuzzParams(RUNS),
    );
  });

  it('JSONL lines: a document, a rejection with the line number, or nothing for a blank line', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string({ maxLength: 80 }), fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v)), memoryRequest.map((v) => JSON.stringify(v))), (line) => {
        const r = parseJsonlLine(line, 7, 'default');
        if (r !== undefined && !r.ok) expect(r.rejection.line).toBe(7);
      }),
      fuzzParams(RUNS),
    );
  });

  it('ingestion queue messages: decoded, or a plain Error the consumer dead-letters', () => {
    fc.assert(
      fc.property(fc.oneof(fc.uint8Array({ maxLength: 128 }), fc.uint8Array({ maxLength: 128 }).map((b) => Uint8Array.from([0x48, 0x4d, 2, ...b]))), (bytes) => {
        try {
          decodeQueueMessage(bytes);
        } catch (err) {
          expect(err).toBeInstanceOf(Error);
        }
      }),
      fuzzParams(RUNS),
    );
  });
});
