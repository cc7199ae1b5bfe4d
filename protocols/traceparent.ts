// The W3C Trace Context `traceparent` value (https://www.w3.org/TR/trace-context/#traceparent-header), as it
// travels in an envelope's `t` field and in the `traceparent` NATS header:
//   `00-<trace id: 32 lowercase hex>-<parent span id: 16 lowercase hex>-<flags: 2 hex>`
// (version 00; an all-zero trace or span id is invalid). Pure functions, no I/O.

/** A parsed traceparent. */
export interface TraceParent {
  traceId: string;
  spanId: string;
  /** Trace flags (bit 0: sampled). */
  flags: number;
}

/** Longest `traceparent` accepted (version 00 is 55 characters; later versions may append fields). */
export const MAX_TRACEPARENT_LENGTH = 256;

const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/;

/**
 * Parses a traceparent; undefined when it is not one (the W3C rule: an invalid traceparent is ignored and the
 * receiver starts a new trace). Version `ff` and all-zero ids are invalid; version 00 has no trailing fields.
 */
export function parseTraceparent(value: unknown): TraceParent | undefined {
  if (typeof value !== 'string' || value.length > MAX_TRACEPARENT_LENGTH) return undefined;
  const m = TRACEPARENT.exec(value);
  if (m === null) return undefined;
  const [, version, traceId, spanId, flags, rest] = m;
  if (version === 'ff' || (version === '00' && rest !== undefined)) return undefined;
  if (/^0+$/.test(traceId) || /^0+$/.test(spanId)) return undefined;
  return { traceId, spanId, flags: parseInt(flags, 16) };
}

/** Formats a version-00 traceparent. */
export function formatTraceparent(p: TraceParent): string {
  return `00-${p.traceId}-${p.spanId}-${(p.flags & 0xff).toString(16).padStart(2, '0')}`;
}
