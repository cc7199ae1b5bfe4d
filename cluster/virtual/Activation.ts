// One activation of a virtual actor on this node: the placement revision it won (its fencing token), the
// snapshot revision it last wrote, and what its asks wait for (versions saved). Also the error an ask gets
// when its activation lost the actor before saving its change.
import { HiveError, UnavailableError } from '../../protocols/errors.js';
import type { TransportSubscription } from '../../runtime/Transport.js';
import { placementKey } from './placement.js';
import { virtualActorId } from './VirtualRef.js';

/** Why an activation stopped serving (the `reason` label of `hive_virtual_fenced_total`). */
export type FenceReason = 'placement-moved' | 'snapshot-moved' | 'save-failed' | 'actor-gone';

/**
 * The error an ask gets when its change was never saved because the activation lost the actor first: the
 * change is not applied anywhere, so retrying is safe (the node that served it re-routes it to the new owner
 * itself; a caller sees this only when that was impossible).
 */
export function fencedError(kind: string, key: string, node: string): UnavailableError {
  return new UnavailableError(`virtual actor ${kind}/${key} moved off node "${node}" before this call's change was saved: not applied, retry`, {
    details: { fenced: true, kind, key, node },
  });
}

/** True for {@link fencedError} (also as rebuilt from the wire). */
export function isFenced(err: unknown): boolean {
  return err instanceof HiveError && err.code === 'UNAVAILABLE' && err.details?.['fenced'] === true;
}

export interface Waiter {
  version: number;
  resolve: () => void;
  reject: (e: unknown) => void;
}

/** One local activation and its persistence state. */
export class Activation {
  /** `active` serves; `passivating` / `ended` never serve again. */
  state: 'active' | 'passivating' | 'ended' = 'active';
  /** Bumped on every snapshot change. */
  version = 0;
  /** The version last written to the snapshot store. */
  saved = 0;
  saving: Promise<void> | undefined = undefined;
  waiters: Waiter[] = [];
  /** Asks delivered and not answered yet. */
  inflight = 0;
  /** Epoch ms of the last delivery or answer (passivation). */
  lastUsed: number;
  /** The check generation this activation last proved its placement in. */
  verifiedGen: number;
  verifying: Promise<boolean> | undefined = undefined;
  /** Asks answered in the transition under way: each learns the version holding its change when it ends. */
  answered: Array<(version: number) => void> = [];
  /** The error unsaved asks get once it ended. */
  endedBy: HiveError | undefined = undefined;
  sub: TransportSubscription | undefined = undefined;
  unsubscribe: () => void = () => undefined;

  constructor(
    readonly kind: string,
    readonly key: string,
    /** The placement revision this activation won: its fencing token. */
    readonly placementRevision: number,
    /** The snapshot entry's revision this activation last wrote (every save expects it). */
    public snapshotRevision: number,
    now: number,
    verifiedGen: number,
  ) {
    this.lastUsed = now;
    this.verifiedGen = verifiedGen;
  }

  get id(): string {
    return virtualActorId(this.kind, this.key);
  }

  get pkey(): string {
    return placementKey(this.kind, this.key);
  }
}
