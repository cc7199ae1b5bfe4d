// The transit's bounds: how far ahead a deadline may be, how many served asks are remembered for cancels, and
// how frames are coalesced into one NATS message.

/**
 * The furthest deadline a request may carry: one hour from now. A request asking for more is refused with
 * INVALID_ARGUMENT on both sides (no node keeps bookkeeping for work nobody will wait for).
 */
export const MAX_DEADLINE_MS = 3_600_000;

/** Asks in progress a node remembers for cancellation; past it, new asks are served but cannot be cancelled. */
export const MAX_CANCELLABLE = 100_000;

/**
 * Coalescing: with other requests in flight, the frames for one destination (asks) or one asker (answers)
 * made in the same event-loop turn leave as ONE NATS message, a batch envelope of up to MAX_BATCH frames
 * (measured on this machine kind: one message per request 109k req/s, up to 8 per message 178k, up to 32
 * 193k). A lone request (nothing else in flight) leaves at once; a frame over MAX_BATCHED_FRAME bytes too.
 */
export const MAX_BATCH = 32;
export const MAX_BATCHED_FRAME = 16 * 1024;
