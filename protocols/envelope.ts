// The versioned envelope that binary frames carry between nodes: a tell, an ask, the reply to an ask, or the
// cancel of an ask.
import { BadFrameError, InvalidEventError, isErrorReply, type ErrorReply } from './errors.js';
import { MAX_TRACEPARENT_LENGTH } from './traceparent.js';

/** Envelope format version; a frame body with another `v` is refused as BAD_FRAME. */
export const ENVELOPE_VERSION = 1;

/** Any actor event: an object with a string `type`. */
export interface HiveEvent {
  type: string;
  [key: string]: unknown;
}

/** A one-way message to an actor. */
export interface TellEnvelope {
  v: 1;
  k: 't';
  /** The event. */
  e: HiveEvent;
  /** Sender actor id, when the sender is an actor. */
  f?: string;
  /** W3C `traceparent` of the sender's span (see protocols/traceparent.ts); absent when nothing is traced. */
  t?: string;
}

/** A request to an actor; the answer goes to the message's reply subject. */
export interface AskEnvelope {
  v: 1;
  k: 'a';
  e: HiveEvent;
  /** Correlation id (also the last token of the reply subject). */
  c: string;
  /** Deadline as epoch milliseconds; the receiver drops work past it. */
  d?: number;
  f?: string;
  /** W3C `traceparent` of the asker's span: the serving node's span is its child (one trace across nodes). */
  t?: string;
}

/** The answer to an ask: either an event (`ok`) or an error (`err`). */
export interface ReplyEnvelope {
  v: 1;
  k: 'r';
  c?: string;
  ok?: HiveEvent;
  err?: ErrorReply;
  /** The node that answered (lets the asker guard each destination node with its own breaker). */
  n?: string;
}

/**
 * Cancels an ask still in progress (`k: "c"`). Published on `hive.<cluster>.sys.cancel` (every node listens);
 * it names the ask by the reply subject it was sent with (`r`) and its correlation id (`c`, when the ask had
 * one). The node serving that ask aborts it and answers the asker `CANCELLED`; a cancel naming no ask in
 * progress is ignored (and counted).
 */
export interface CancelEnvelope {
  v: 1;
  k: 'c';
  /** The reply subject of the ask to cancel. */
  r: string;
  /** The ask's correlation id (absent for a JSON ask, which has none). */
  c?: string;
}

/** Most frames one batch envelope may carry. */
export const MAX_BATCH_FRAMES = 256;

/**
 * Several frames in one message (`k: "b"`): what a node sends when many asks to one destination, or many
 * answers to one asker, are ready in the same event-loop turn. `m` holds whole binary frames (msgpack bin),
 * each a tell, ask or reply envelope, handled as if each had come alone with this message's reply subject.
 */
export interface BatchEnvelope {
  v: 1;
  k: 'b';
  /** The frames, 1 to {@link MAX_BATCH_FRAMES}. */
  m: Uint8Array[];
}

/** Any envelope. */
export type Envelope = TellEnvelope | AskEnvelope | ReplyEnvelope | CancelEnvelope | BatchEnvelope;

/**
 * Checks that a decoded frame body is an envelope and returns it typed: `v` is {@link ENVELOPE_VERSION},
 * `k` is `t`, `a`, `r`, `c` or `b`; a tell or ask carries an object `e`, an ask a non-empty string `c`; optional
 * fields have their types (`f` string, `d` finite number, reply `c` string, `ok` object, `err` an error
 * reply). Whether `e` is a valid event (a string `type`) is left to {@link validateEvent}, so the
 * caller can answer INVALID_EVENT rather than BAD_FRAME. Unknown extra fields are tolerated.
 * @returns the same object, typed.
 * @throws BadFrameError naming the first field that is wrong.
 */
export function parseEnvelope(value: unknown): Envelope {
  if (!isPlainObject(value)) throw new BadFrameError(`envelope must be an object, got ${describe(value)}`);
  if (value['v'] !== ENVELOPE_VERSION) {
    throw new BadFrameError(`unsupported envelope version ${describe(value['v'])}; this node reads version ${ENVELOPE_VERSION}`, {
      details: { v: value['v'] },
    });
  }
  const k = value['k'];
  switch (k) {
    case 't':
    case 'a': {
      const kind = k === 't' ? 'tell' : 'ask';
      if (!isPlainObject(value['e'])) throw new BadFrameError(`${kind} envelope needs an event object in "e", got ${describe(value['e'])}`);
      optional(value, 'f', 'string', kind);
      optional(value, 't', 'string', kind);
      if (typeof value['t'] === 'string' && value['t'].length > MAX_TRACEPARENT_LENGTH) {
        throw new BadFrameError(`${kind} envelope traceparent "t" is longer than ${MAX_TRACEPARENT_LENGTH} characters`);
      }
      if (k === 'a') {
        const c = value['c'];
        if (typeof c !== 'string' || c === '') throw new BadFrameError(`ask envelope needs a correlation id string in "c", got ${describe(c)}`);
        const d = value['d'];
        if (d !== undefined && (typeof d !== 'number' || !Number.isFinite(d))) {
          throw new BadFrameError(`ask envelope deadline "d" must be epoch milliseconds, got ${describe(d)}`);
        }
      }
      return value as unknown as TellEnvelope | AskEnvelope;
    }
    case 'r': {
      optional(value, 'c', 'string', 'reply');
      const ok = value['ok'];
      const err = value['err'];
      if (ok !== undefined && !isPlainObject(ok)) throw new BadFrameError(`reply envelope "ok" must be an object, got ${describe(ok)}`);
      if (err !== undefined && !isErrorReply(err)) {
        throw new BadFrameError(`reply envelope "err" must be an error reply ({ type: "hive.error", code, message }), got ${describe(err)}`);
      }
      if (ok === undefined && err === undefined) throw new BadFrameError('reply envelope carries neither "ok" nor "err"');
      return value as unknown as ReplyEnvelope;
    }
    case 'c': {
      const r = value['r'];
      if (typeof r !== 'string' || r === '') throw new BadFrameError(`cancel envelope needs the ask's reply subject string in "r", got ${describe(r)}`);
      optional(value, 'c', 'string', 'cancel');
      return value as unknown as CancelEnvelope;
    }
    case 'b': {
      const m = value['m'];
      if (!Array.isArray(m) || m.length === 0 || m.length > MAX_BATCH_FRAMES) {
        throw new BadFrameError(`batch envelope needs 1 to ${MAX_BATCH_FRAMES} frames in "m", got ${describe(m)}`);
      }
      for (let i = 0; i < m.length; i++) if (!(m[i] instanceof Uint8Array)) throw new BadFrameError(`batch envelope frame m[${i}] must be binary, got ${describe(m[i])}`);
      return value as unknown as BatchEnvelope;
    }
    default:
      throw new BadFrameError(`unknown envelope kind ${describe(k)}; expected "t" (tell), "a" (ask), "r" (reply), "c" (cancel) or "b" (batch)`, { details: { k } });
  }
}

/**
 * Checks that `value` is an actor event: a plain object with a non-empty string `type`.
 * @returns the same object, typed.
 * @throws InvalidEventError otherwise (the message shows what was received).
 */
export function validateEvent(value: unknown): HiveEvent {
  if (!isPlainObject(value)) {
    throw new InvalidEventError(`an event must be an object with a string "type", got ${describe(value)}`, { details: { got: describe(value) } });
  }
  const type = value['type'];
  if (typeof type !== 'string' || type === '') {
    throw new InvalidEventError(`an event needs a non-empty string "type", got ${describe(type)}`, { details: { type: describe(type) } });
  }
  return value as HiveEvent;
}

/**
 * Event type prefixes the wire may never deliver: xstate's own events (`xstate.stop`, `xstate.error.actor.*`,
 * `xstate.done.actor.*`, ...) and Hive's internal messages (`hive.*`).
 */
export const RESERVED_EVENT_PREFIXES: readonly string[] = Object.freeze(['xstate.', 'hive.']);

/**
 * Event types of Hive's built-in machines that only the runtime itself sends (a supervisor's child
 * notifications, a pool agent's internal steps): refused from the wire like the reserved prefixes.
 */
export const INTERNAL_EVENT_TYPES: ReadonlySet<string> = new Set(['child.failed', 'child.done', 'child.stopped', 'agent.settled', 'agent.drain']);

/** True when an event of this type may not come from the wire (see {@link validateWireEvent}). */
export function isInternalEventType(type: string): boolean {
  // most types are decided by their first character (a table built from the lists below)
  const first = type.charCodeAt(0);
  if (first >= 128 || INTERNAL_FIRST[first] === 0) return false;
  for (let i = 0; i < RESERVED_EVENT_PREFIXES.length; i++) if (type.startsWith(RESERVED_EVENT_PREFIXES[i])) return true;
  return INTERNAL_EVENT_TYPES.has(type);
}

/** 1 at the char code of every first character of a reserved prefix or internal type. */
const INTERNAL_FIRST: Uint8Array = (() => {
  const t = new Uint8Array(128);
  for (const s of [...RESERVED_EVENT_PREFIXES, ...INTERNAL_EVENT_TYPES]) {
    const c = s.charCodeAt(0);
    if (c >= 128) throw new Error(`internal event type ${s} must start with an ASCII character`);
    t[c] = 1;
  }
  return t;
})();

/**
 * {@link validateEvent} for an event that arrived over the wire: also refuses xstate's and Hive's internal
 * event types ({@link RESERVED_EVENT_PREFIXES}, {@link INTERNAL_EVENT_TYPES}) with INVALID_EVENT, so a
 * sender cannot stop an actor (`xstate.stop`), fake a child failure to a supervisor, or drain an agent.
 * @throws InvalidEventError naming the type.
 */
export function validateWireEvent(value: unknown): HiveEvent {
  const event = validateEvent(value);
  if (isInternalEventType(event.type)) {
    throw new InvalidEventError(`event type ${describe(event.type)} is internal and refused from the wire`, { details: { type: event.type.slice(0, 200) } });
  }
  return event;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null) return false;
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

function optional(o: Record<string, unknown>, key: string, type: 'string', kind: string): void {
  const v = o[key];
  if (v !== undefined && typeof v !== type) throw new BadFrameError(`${kind} envelope field "${key}" must be a ${type}, got ${describe(v)}`);
}

/** A short description of a received value for error messages. */
function describe(value: unknown): string {
  if (value === null) return 'null';
  if (value === undefined) return 'nothing';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'string') return JSON.stringify(value.length > 60 ? `${value.slice(0, 60)}…` : value);
  if (typeof value === 'object') return isPlainObject(value) ? 'an object' : `a ${(value).constructor?.name ?? 'non-plain'} object`;
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return String(value);
  return `a ${typeof value}`;
}
