// The versioned envelope that binary frames carry between nodes: a tell, an ask, or the reply to an ask.
import type { ErrorReply } from './errors.js';

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
}

/** The answer to an ask: either an event (`ok`) or an error (`err`). */
export interface ReplyEnvelope {
  v: 1;
  k: 'r';
  c?: string;
  ok?: HiveEvent;
  err?: ErrorReply;
}

/** Any envelope. */
export type Envelope = TellEnvelope | AskEnvelope | ReplyEnvelope;
