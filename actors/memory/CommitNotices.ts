// Commit notices: the node that queued a batch for a waiting ingest hears from whichever node committed it
// (`hive.<cluster>.sys.memory.done.<nodeId>`, or directly when it committed it itself). Waiters are bounded by
// time (`maxWaitMs`: then TIMEOUT, the documents stay queued).
import { TimeoutError, type ErrorReply } from '../../protocols/errors.js';
import { decodeJson, encodeJson } from '../../protocols/frame.js';
import type { Clock, TimerHandle } from '../../runtime/Clock.js';
import type { Logger } from '../../runtime/logger.js';
import type { Transport, TransportSubscription } from '../../runtime/Transport.js';
import type { Rejection } from './Document.js';
import { memoryDoneSubject } from './memoryProtocol.js';

/** What a committing node tells the node that queued a batch. */
export interface BatchNotice {
  batch: string;
  inserted: number;
  duplicates: number;
  rejected: Rejection[];
  error?: ErrorReply;
}

/** Waiters for commit notices of this node's batches, and the sender of notices to other nodes. */
export class CommitNotices {
  private readonly waiters = new Map<string, { resolve(n: BatchNotice): void; timer: TimerHandle }>();
  private sub: TransportSubscription | undefined;

  constructor(
    private readonly o: { transport: Transport; cluster: string; nodeId: string; clock: Clock; logger: Logger; maxWaitMs: number },
  ) {}

  /** Listens for notices addressed to this node (idempotent). */
  listen(): void {
    if (this.sub !== undefined || !this.o.transport.connected) return;
    this.sub = this.o.transport.subscribe(memoryDoneSubject(this.o.cluster, this.o.nodeId), (m) => this.onNotice(m.data));
  }

  /** Ingests waiting for their batches. */
  get waiting(): number {
    return this.waiters.size;
  }

  /** Resolves with the batch's notice, or a TIMEOUT notice after maxWaitMs. */
  waitFor(batch: string): Promise<BatchNotice> {
    return new Promise<BatchNotice>((resolve) => {
      const timer = this.o.clock.setTimeout(() => {
        if (!this.waiters.delete(batch)) return;
        resolve({
          batch,
          inserted: 0,
          duplicates: 0,
          rejected: [],
          error: new TimeoutError(`documents were queued but not committed within ${this.o.maxWaitMs} ms; they stay queued`, { details: { batch, queued: true } }).toReply(),
        });
      }, this.o.maxWaitMs);
      this.waiters.set(batch, { resolve, timer });
    });
  }

  /** Forgets waiters (their batches were not queued). */
  cancel(batches: readonly string[]): void {
    for (const b of batches) {
      const w = this.waiters.get(b);
      if (w === undefined) continue;
      this.o.clock.clearTimeout(w.timer);
      this.waiters.delete(b);
    }
  }

  /** Tells `origin` (this node or another) how its batch went. */
  notify(origin: string | undefined, notice: BatchNotice): void {
    if (origin === undefined) return;
    if (origin === this.o.nodeId) {
      this.settle(notice);
      return;
    }
    try {
      this.o.transport.publish(memoryDoneSubject(this.o.cluster, origin), encodeJson(notice));
    } catch (err) {
      this.o.logger.warn({ err, origin }, 'could not send a memory commit notice');
    }
  }

  private settle(notice: BatchNotice): void {
    const w = this.waiters.get(notice.batch);
    if (w === undefined) return;
    this.waiters.delete(notice.batch);
    this.o.clock.clearTimeout(w.timer);
    w.resolve(notice);
  }

  private onNotice(data: Uint8Array): void {
    try {
      const n = decodeJson(data) as BatchNotice;
      if (typeof n !== 'object' || n === null || typeof n.batch !== 'string') return;
      const inserted = typeof n.inserted === 'number' ? n.inserted : 0;
      const duplicates = typeof n.duplicates === 'number' ? n.duplicates : 0;
      const notice: BatchNotice = { batch: n.batch, inserted, duplicates, rejected: Array.isArray(n.rejected) ? n.rejected : [] };
      if (typeof n.error === 'object' && n.error !== null && typeof n.error.code === 'string') notice.error = n.error;
      this.settle(notice);
    } catch (err) {
      this.o.logger.debug({ err }, 'ignoring a malformed memory commit notice');
    }
  }

  /** Answers every waiter with `error` (their documents stay queued) and stops listening. */
  close(error: ErrorReply): void {
    this.sub?.unsubscribe();
    this.sub = undefined;
    for (const [batch, w] of [...this.waiters]) {
      this.waiters.delete(batch);
      this.o.clock.clearTimeout(w.timer);
      w.resolve({ batch, inserted: 0, duplicates: 0, rejected: [], error });
    }
  }
}
