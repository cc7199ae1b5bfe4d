// Coalescing: frames for one subject made in the same event-loop turn leave as ONE NATS message at the end of
// the turn (setImmediate), a batch envelope when there are several (see ./limits.ts for the measured gain).
// The requester queues asks by destination subject, the responder answers by reply subject.

import { ENVELOPE_VERSION, type BatchEnvelope } from '../../protocols/envelope.js';
import type { FrameCodec } from '../../protocols/frame.js';
import type { Transport } from '../Transport.js';
import { MAX_BATCH } from './limits.js';

/** Publishes one frame as it is, several in a batch envelope. Throws what the transport throws. */
export function publishFrames(transport: Transport, codec: FrameCodec, subject: string, frames: Uint8Array[], reply: string | undefined): void {
  const data = frames.length === 1 ? frames[0] : codec.encode({ v: ENVELOPE_VERSION, k: 'b', m: frames } satisfies BatchEnvelope);
  if (reply === undefined) transport.publish(subject, data);
  else transport.publish(subject, data, reply);
}

/** Frames waiting for the end of the turn, for one subject. */
export interface Coalesced<C> {
  readonly subject: string;
  /** The reply subject's last token (a request batch's first correlation id; answers: ''). */
  readonly token: string;
  readonly frames: Uint8Array[];
  /** What each frame belongs to, in the same order (requests: the pending requests; answers: none). */
  readonly items: C[];
}

/** Holds frames per subject until the end of the turn, then hands each batch to `send`. */
export class Coalescer<C> {
  private readonly pending = new Map<string, Coalesced<C>>();
  private scheduled = false;

  /** `send` publishes one batch; it must not throw (it handles its own failures). */
  constructor(private readonly send: (batch: Coalesced<C>) => void) {}

  /** Subjects with frames waiting. */
  get size(): number {
    return this.pending.size;
  }

  /**
   * Queues `frame` (and its `item`, if any) for `subject` and returns the batch it joined. A full batch leaves
   * at once and a new one starts, named by `token`.
   */
  add(subject: string, frame: Uint8Array, item: C | undefined, token: string): Coalesced<C> {
    let b = this.pending.get(subject);
    if (b === undefined || b.frames.length >= MAX_BATCH) {
      if (b !== undefined) this.send(b);
      b = { subject, token, frames: [], items: [] };
      this.pending.set(subject, b);
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(this.flush);
      }
    }
    b.frames.push(frame);
    if (item !== undefined) b.items.push(item);
    return b;
  }

  /** Takes `item` and its frame out of a batch not sent yet; an emptied batch is not sent at all. */
  remove(b: Coalesced<C>, item: C): boolean {
    const i = b.items.indexOf(item);
    if (i < 0) return false;
    b.items.splice(i, 1);
    b.frames.splice(i, 1);
    if (b.frames.length === 0 && this.pending.get(b.subject) === b) this.pending.delete(b.subject);
    return true;
  }

  /** Every batch waiting leaves now. */
  readonly flush = (): void => {
    this.scheduled = false;
    if (this.pending.size === 0) return;
    for (const b of this.pending.values()) this.send(b);
    this.pending.clear();
  };
}
