// The seam between one node's actor system and whatever carries bytes between nodes.
// `cluster/NatsTransport` implements it over NATS; `InProcTransport` implements it in memory.
// It moves opaque byte payloads on subjects; the actor system encodes and decodes them with the frame codec.

/** One inbound message. */
export interface TransportMessage {
  readonly subject: string;
  readonly data: Uint8Array;
  /** Where an answer goes, when the sender asked for one. */
  readonly reply: string | undefined;
  /**
   * True for the status message NATS sends to a request's reply subject when nothing subscribes to the
   * request's subject ("no responders", status 503); `data` is empty then.
   */
  readonly noResponders?: boolean;
  /** The `traceparent` NATS header, when a plain client sent one (trace context for messages without an envelope). */
  readonly traceparent?: string;
}

/** A live subscription; `unsubscribe` is idempotent. */
export interface TransportSubscription {
  unsubscribe(): void;
}

/** Subscription options. */
export interface SubscribeOptions {
  /** Queue group: each message goes to one member of the group. */
  queue?: string;
}

/** Connection state changes a transport reports. */
export type TransportStatus = 'connected' | 'disconnected' | 'reconnecting' | 'reconnected' | 'closed';

/** Carries byte payloads on subjects between nodes (NATS semantics). */
export interface Transport {
  /** `inproc` or `nats`. */
  readonly kind: string;
  /** A human description (server URL, or "in-process"). */
  readonly description: string;
  /** Whether a publish now would reach the other nodes. */
  readonly connected: boolean;
  /** Subscribe `handler` to `subject` (NATS wildcards `*` and `>` allowed). */
  subscribe(subject: string, handler: (msg: TransportMessage) => void, options?: SubscribeOptions): TransportSubscription;
  /** Fire-and-forget publish. Throws a typed error when the transport is closed or the payload is too large. */
  publish(subject: string, data: Uint8Array, reply?: string): void;
  /**
   * Request/reply over one shared reply inbox with a correlation id (not one inbox per request).
   * Rejects with `NO_SUCH_ACTOR` when no subscriber exists (NATS "no responders"), `TIMEOUT` after `timeoutMs`.
   */
  request(subject: string, data: Uint8Array, timeoutMs: number): Promise<Uint8Array>;
  /** A fresh, unguessable reply inbox subject prefix (`_INBOX.<random>` or the configured private prefix). */
  createInbox(): string;
  /** Resolves once everything published so far reached the server. */
  flush(): Promise<void>;
  /** Subscribe to connection state changes; returns an unsubscribe function. */
  onStatus(listener: (status: TransportStatus) => void): () => void;
  /**
   * Hear about publishes the server refused (a NATS permissions violation names the subject), so requests
   * sent there fail at once with PERMISSION_DENIED rather than at their deadline. Optional: transports
   * without permissions never call it.
   */
  onRefused?(listener: (subject: string) => void): () => void;
  /** Drain subscriptions and close. */
  close(): Promise<void>;
}
