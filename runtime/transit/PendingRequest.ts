// A request sent over the transit and waiting for its reply: one object per request (no closures), held in
// the requester's map by correlation id, in a timeout batch until its deadline, and as the listener of the
// caller's AbortSignal.
import { CancelledError, TimeoutError } from '../../protocols/errors.js';
import type { Expiring, TimeoutBatch } from '../Timeouts.js';
import type { Coalesced } from './Coalescer.js';

/** Options of one request. */
export interface RequestOptions {
  /** Budget from now (default: the transit's `defaultTimeoutMs`). */
  timeoutMs?: number | undefined;
  /** Absolute deadline, epoch ms (wins over `timeoutMs`): a hop passes the deadline it was given. */
  deadline?: number | undefined;
  /** Aborting it rejects the request with CANCELLED and tells the serving node to stop. */
  signal?: AbortSignal | undefined;
  /** The destination's key for the {@link RemoteGuard} (an actor id); no key, no guard. */
  guardKey?: string;
  /** How errors name the destination, e.g. `actor "a1"` (default: the subject). */
  what?: string;
  /** The NO_SUCH_ACTOR message when nothing serves the subject. */
  noResponders?: string;
  /** The sending actor's id, carried in the envelope. */
  from?: string;
}

/** What a pending request tells its owner (the requester). */
export interface PendingOwner {
  /** Leaves the pending map. */
  forget(call: PendingRequest): void;
  /** Its signal fired: take it out of a batch not sent yet, or tell the serving node to stop. */
  cancelled(call: PendingRequest): void;
}

function noop(): void {}

/** @internal A request waiting for its reply. */
export class PendingRequest implements Expiring {
  settled = false;
  batch: TimeoutBatch | undefined = undefined;
  resolve: (value: never) => void = noop;
  reject: (err: unknown) => void = noop;
  signal: AbortSignal | undefined = undefined;
  /** The last token of the reply subject it was sent with (its own id, or its batch's first id). */
  token: string;
  /** The batch it waits in until the end of the turn (undefined once sent, or when sent alone). */
  queued: Coalesced<PendingRequest> | undefined = undefined;

  constructor(
    private readonly owner: PendingOwner,
    readonly cid: string,
    readonly subject: string,
    readonly type: string,
    readonly budgetMs: number,
    readonly started: number,
    readonly json: boolean,
    readonly options: RequestOptions,
  ) {
    this.token = cid;
  }

  get what(): string {
    return this.options.what ?? this.subject;
  }

  /** Leaves the pending map, its timeout batch and its signal. */
  finish(): void {
    this.settled = true;
    this.owner.forget(this);
    this.batch?.release(this);
    this.signal?.removeEventListener('abort', this);
  }

  expire(): void {
    this.owner.forget(this);
    this.signal?.removeEventListener('abort', this);
    this.reject(new TimeoutError(`ask to ${this.what} (${this.type}) timed out after ${this.budgetMs} ms`, { details: { subject: this.subject, type: this.type } }));
  }

  /** The caller's signal fired (EventListener object: no closure per request). */
  handleEvent(): void {
    if (this.settled) return;
    this.finish();
    this.owner.cancelled(this);
    this.reject(new CancelledError(`ask to ${this.what} (${this.type}) was cancelled`, { cause: this.signal?.reason, details: { subject: this.subject, type: this.type } }));
  }
}
