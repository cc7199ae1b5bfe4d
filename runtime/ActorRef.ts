// ActorRef: the handle callers use to reach an actor by id, wherever it lives (this node or another).
import type { HiveEvent } from '../protocols/envelope.js';
import type { ActorSystem } from './ActorSystem.js';
import type { ChunkStream } from './streams/ChunkStream.js';
import type { StreamOptions } from './streams/StreamHub.js';

/** Options of one ask. */
export interface AskOptions {
  /** Reject with `TIMEOUT` after this long (default: the node's `askTimeoutMs`); the deadline travels with the ask. */
  timeoutMs?: number;
  /** Aborting it rejects the ask with `CANCELLED` and tells the actor's node to drop it (a `cancel` envelope). */
  signal?: AbortSignal;
}

/** A handle on an actor, local or remote. Cheap to create; holds no resources. */
export class ActorRef {
  /** @internal */
  constructor(
    /** The actor's id (unique in the cluster). */
    readonly id: string,
    private readonly system: ActorSystem,
  ) {}

  /**
   * Sends an event and does not wait. Throws synchronously only for caller errors (`INVALID_EVENT`) and a full
   * local mailbox (`OVERLOADED`); anything undeliverable later becomes a dead letter.
   */
  tell(event: HiveEvent): void {
    this.system.tell(this.id, event);
  }

  /**
   * Sends an event and waits for the actor's reply (the machine answers with `reply(event, answer)`).
   * Rejects with a typed error: `TIMEOUT`, `NO_SUCH_ACTOR`, `OVERLOADED`, `ACTOR_FAILED`, `INVALID_EVENT`,
   * `CANCELLED`, ...
   * @example
   * const ac = new AbortController();
   * const answer = ref.ask({ type: 'summarize' }, { timeoutMs: 10_000, signal: ac.signal });
   * ac.abort(); // rejects with CANCELLED; the actor's node drops the ask if it has not started on it
   */
  ask<TReply extends HiveEvent = HiveEvent>(event: HiveEvent, options: AskOptions = {}): Promise<TReply> {
    return this.system.ask(this.id, event, options) as Promise<TReply>;
  }

  /**
   * Asks for a streamed reply: the actor answers with `stream(event, chunk)` ... `end(event, final?)`, and the
   * chunks arrive here as they are made, through a credit window (a slow reader slows the producer). Breaking
   * out of the loop, or aborting `signal`, cancels the producer. The loop throws the producer's typed error,
   * `TIMEOUT` past `timeoutMs` (default 300,000 ms for the whole stream), `NO_SUCH_ACTOR`, `CANCELLED`, ...
   * @example
   * for await (const token of ref.askStream<string>({ type: 'generate', prompt: 'hi' })) process.stdout.write(token);
   */
  askStream<T = unknown>(event: HiveEvent, options: StreamOptions = {}): ChunkStream<T> {
    return this.system.askStream<T>(this.id, event, options);
  }

  /** Stops the actor when it lives on this node. */
  stop(): Promise<void> {
    return this.system.stopActor(this.id);
  }

  toJSON(): { id: string } {
    return { id: this.id };
  }
}
