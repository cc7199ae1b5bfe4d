// The in-process Transport: NATS semantics (subjects, wildcards, queue groups, request/reply over one
// shared inbox, "no responders") in memory, for unit tests and single-process use. Payloads are copied
// on delivery, as the wire would, and the actor system encodes them with the same frame codec as over NATS.
import { NoSuchActorError, TimeoutError, TooLargeError, UnavailableError, toHiveError } from '../protocols/errors.js';
import { systemClock, type Clock, type TimerHandle } from './Clock.js';
import { RandomIds, type IdSource } from './ids.js';
import type { SubscribeOptions, Transport, TransportMessage, TransportStatus, TransportSubscription } from './Transport.js';

interface BusSub {
  readonly subject: string;
  readonly tokens: string[] | undefined; // set for wildcard subscriptions
  readonly queue: string | undefined;
  readonly handler: (msg: TransportMessage) => void;
  active: boolean;
}

/** The status message "no responders" travels as, on the bus. */
interface BusMessage extends TransportMessage {
  readonly noResponders?: true;
}

interface PendingRequest {
  resolve: (data: Uint8Array) => void;
  reject: (err: Error) => void;
  timer: TimerHandle;
  subject: string;
}

function matches(tokens: string[], subject: string): boolean {
  const parts = subject.split('.');
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i];
    if (t === '>') return parts.length > i;
    if (i >= parts.length) return false;
    if (t !== '*' && t !== parts[i]) return false;
  }
  return parts.length === tokens.length;
}

/** A message bus shared by in-process transports (one per process by default: {@link InProcBus.shared}). */
export class InProcBus {
  private static sharedBus: InProcBus | undefined;
  /** The process-wide bus that in-process nodes join by default. */
  static shared(): InProcBus {
    return (InProcBus.sharedBus ??= new InProcBus());
  }

  private readonly exact = new Map<string, BusSub[]>();
  private readonly wild = new Set<BusSub>();
  private queueCursor = 0;

  constructor(readonly maxPayload = 8 * 1024 * 1024) {}

  /** @internal */
  add(sub: BusSub): void {
    if (sub.tokens) this.wild.add(sub);
    else {
      const list = this.exact.get(sub.subject);
      if (list) list.push(sub);
      else this.exact.set(sub.subject, [sub]);
    }
  }

  /** @internal */
  remove(sub: BusSub): void {
    sub.active = false;
    if (sub.tokens) {
      this.wild.delete(sub);
      return;
    }
    const list = this.exact.get(sub.subject);
    if (!list) return;
    const i = list.indexOf(sub);
    if (i >= 0) list.splice(i, 1);
    if (list.length === 0) this.exact.delete(sub.subject);
  }

  /** The subscriptions a message on `subject` goes to (one member per queue group). */
  route(subject: string): BusSub[] {
    const out: BusSub[] = [];
    let groups: Map<string, BusSub[]> | undefined;
    const consider = (s: BusSub) => {
      if (s.queue === undefined) out.push(s);
      else {
        groups ??= new Map();
        const g = groups.get(s.queue);
        if (g) g.push(s);
        else groups.set(s.queue, [s]);
      }
    };
    const list = this.exact.get(subject);
    if (list) for (const s of list) consider(s);
    for (const s of this.wild) if (matches(s.tokens!, subject)) consider(s);
    if (groups) for (const g of groups.values()) out.push(g[this.queueCursor++ % g.length]);
    return out;
  }
}

/** The in-process {@link Transport}. */
export class InProcTransport implements Transport {
  readonly kind = 'inproc';
  readonly description = 'in-process (this process only)';
  private closed = false;
  private readonly subs = new Set<BusSub>();
  private readonly statusListeners = new Set<(s: TransportStatus) => void>();
  private readonly inbox: string;
  private readonly pending = new Map<string, PendingRequest>();
  private inboxSub: TransportSubscription | undefined;
  private nextCid = 0;

  constructor(
    /** The bus this transport is on. */
    readonly bus: InProcBus = InProcBus.shared(),
    private readonly clock: Clock = systemClock,
    ids: IdSource = new RandomIds(),
  ) {
    this.inbox = `_INBOX.${ids.next()}`;
  }

  get connected(): boolean {
    return !this.closed;
  }

  subscribe(subject: string, handler: (msg: TransportMessage) => void, options: SubscribeOptions = {}): TransportSubscription {
    if (this.closed) throw new UnavailableError('in-process transport is closed');
    const wildcard = subject.includes('*') || subject.includes('>');
    const sub: BusSub = { subject, tokens: wildcard ? subject.split('.') : undefined, queue: options.queue, handler, active: true };
    this.bus.add(sub);
    this.subs.add(sub);
    return {
      unsubscribe: () => {
        if (!sub.active) return;
        this.bus.remove(sub);
        this.subs.delete(sub);
      },
    };
  }

  publish(subject: string, data: Uint8Array, reply?: string): void {
    if (this.closed) throw new UnavailableError('in-process transport is closed');
    if (data.byteLength > this.bus.maxPayload) {
      throw new TooLargeError(`payload of ${data.byteLength} bytes exceeds the maximum of ${this.bus.maxPayload}`);
    }
    const targets = this.bus.route(subject);
    if (targets.length === 0) {
      // NATS "no responders": a request with nobody listening gets a status message on its reply subject.
      if (reply !== undefined) this.noResponders(reply);
      return;
    }
    for (const s of targets) {
      const msg: TransportMessage = { subject, data: data.slice(), reply };
      queueMicrotask(() => {
        if (s.active) s.handler(msg);
      });
    }
  }

  private noResponders(reply: string): void {
    const status: BusMessage = { subject: reply, data: new Uint8Array(0), reply: undefined, noResponders: true };
    for (const s of this.bus.route(reply)) queueMicrotask(() => s.active && s.handler(status));
  }

  private readonly onInbox = (msg: TransportMessage): void => {
    const cid = msg.subject.slice(this.inbox.length + 1);
    const p = this.pending.get(cid);
    if (!p) return;
    this.pending.delete(cid);
    this.clock.clearTimeout(p.timer);
    if ((msg as BusMessage).noResponders) p.reject(new NoSuchActorError(`no one answers on ${p.subject}`, { details: { subject: p.subject } }));
    else p.resolve(msg.data);
  };

  request(subject: string, data: Uint8Array, timeoutMs: number): Promise<Uint8Array> {
    if (this.closed) return Promise.reject(new UnavailableError('in-process transport is closed'));
    this.inboxSub ??= this.subscribe(`${this.inbox}.*`, this.onInbox);
    const cid = (this.nextCid++).toString(36);
    return new Promise<Uint8Array>((resolve, reject) => {
      const timer = this.clock.setTimeout(() => {
        if (this.pending.delete(cid)) reject(new TimeoutError(`request to ${subject} timed out after ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(cid, { resolve, reject, timer, subject });
      try {
        this.publish(subject, data, `${this.inbox}.${cid}`);
      } catch (err) {
        this.pending.delete(cid);
        this.clock.clearTimeout(timer);
        reject(toHiveError(err));
      }
    });
  }

  async flush(): Promise<void> {
    await new Promise<void>((r) => queueMicrotask(r));
  }

  onStatus(listener: (status: TransportStatus) => void): () => void {
    this.statusListeners.add(listener);
    return () => this.statusListeners.delete(listener);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const s of this.subs) this.bus.remove(s);
    this.subs.clear();
    for (const [cid, p] of this.pending) {
      this.pending.delete(cid);
      this.clock.clearTimeout(p.timer);
      p.reject(new UnavailableError('in-process transport closed while waiting for a reply'));
    }
    for (const l of this.statusListeners) l('closed');
  }
}
