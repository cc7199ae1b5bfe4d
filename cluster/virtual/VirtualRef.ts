// The handle users hold on a virtual actor (`hive.actor(kind, key)`): tell and ask, activation on first
// message wherever placement puts it.
import type { HiveEvent } from '../../protocols/envelope.js';
import type { AskCallOptions } from '../../runtime/ActorSystem.js';
import type { AskOptions } from '../../runtime/ActorRef.js';

/** The id a virtual actor has on its node: `<kind>--<key>` (kinds may not contain `--`). */
export function virtualActorId(kind: string, key: string): string {
  return `${kind}--${key}`;
}

/** What a {@link VirtualRef} sends through (the node's virtual actors). @internal */
export interface VirtualHost {
  tell(kind: string, key: string, event: HiveEvent): void;
  ask(kind: string, key: string, event: HiveEvent, options?: AskCallOptions): Promise<HiveEvent>;
}

/** A handle on a virtual actor: same calls as an ActorRef, activation on first message. */
export class VirtualRef {
  /** @internal */
  constructor(
    readonly kind: string,
    readonly key: string,
    private readonly host: VirtualHost,
  ) {}

  /** The actor id it has on its node. */
  get id(): string {
    return virtualActorId(this.kind, this.key);
  }

  /** Sends without waiting (activates the actor when needed). */
  tell(event: HiveEvent): void {
    this.host.tell(this.kind, this.key, event);
  }

  /**
   * Sends and waits for the reply; the state the reply comes from is persisted before it arrives (by the one
   * activation that still owns the actor: see the README's "one activation per virtual actor"). Takes a
   * timeout (its deadline travels with every hop) and a signal that cancels it (`CANCELLED`).
   */
  ask<TReply extends HiveEvent = HiveEvent>(event: HiveEvent, options: AskOptions = {}): Promise<TReply> {
    return this.host.ask(this.kind, this.key, event, options) as Promise<TReply>;
  }
}
