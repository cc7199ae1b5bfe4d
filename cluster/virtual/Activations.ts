// The activations of virtual actors on one node, fenced: each holds the placement revision it won; it claims
// the actor's snapshot entry (a revision-checked write) before it serves, and every later save is a
// revision-checked update, so once another node has claimed the actor this one can never write again. An
// activation stops serving at once when the placement bucket's watch reports that its key moved on, when a
// save is refused, or when a check after a stall (a pause, a reconnect, a broken watch) finds the placement
// changed. An ask is answered only after the save holding its change succeeded; an ask whose change was not
// saved goes back to routing (to the new owner). Idle activations passivate: saved, stopped, placement
// deleted.
import type { AnyActorLogic, Snapshot } from 'xstate';
import type { HiveEvent } from '../../protocols/envelope.js';
import { NoSuchActorError, UnavailableError, type HiveError } from '../../protocols/errors.js';
import { actorSubject } from '../../protocols/subjects.js';
import type { ActorSystem, AskCallOptions } from '../../runtime/ActorSystem.js';
import type { TimerHandle } from '../../runtime/Clock.js';
import type { KvChange, WatchableKeyValue } from '../../runtime/KeyValueStore.js';
import type { InboundRequest } from '../../runtime/Transit.js';
import type { Transport } from '../../runtime/Transport.js';
import { Activation, fencedError, isFenced, type FenceReason } from './Activation.js';
import { parsePlacementKey } from './placement.js';
import { SnapshotWriter } from './snapshots.js';
import { virtualActorId } from './VirtualRef.js';

export { Activation, fencedError, isFenced, type FenceReason };

/** How long a deleted placement's marker stays in the bucket before a node purges it. */
export const PURGE_DELETED_PLACEMENTS_AFTER_MS = 60_000;

/** An ask whose change may or may not have been saved before its activation lost the actor: not retried. */
function outcomeUnknown(a: Activation, cause: unknown): UnavailableError {
  return new UnavailableError(`virtual actor ${a.kind}/${a.key} moved while this call was under way: its change may or may not be saved`, {
    cause,
    details: { kind: a.kind, key: a.key, outcome: 'unknown' },
  });
}

/** What {@link Activations} needs from its node. */
export interface ActivationsDeps {
  system: ActorSystem;
  transport: Transport;
  placement: WatchableKeyValue;
  snapshots: WatchableKeyValue;
  /** The logic of a registered kind. */
  logicOf: (kind: string) => AnyActorLogic | undefined;
  /** A message an activation here could not serve (it moved, or is passivating): route it again. */
  reroute: (kind: string, key: string, req: InboundRequest) => void;
  /** The placement of `id` changed (the watch saw it): forget cached owners. */
  placementChanged: (id: string) => void;
  /** The set of local activations changed (announce it). */
  changed: () => void;
}

/** The virtual-actor activations of one node. */
export class Activations {
  private readonly active = new Map<string, Activation>();
  /** Activations starting or passivating: routing waits for them. */
  private readonly transitions = new Map<string, Promise<void>>();
  /** Placement revisions the watch reported for actors while they were activating. */
  private readonly seenWhileActivating = new Map<string, number>();
  /** Bumped whenever this node may have missed a placement change: each activation checks once more. */
  private gen = 0;
  private lastTick: number;
  private lastSweep: number;
  private lastPurge: number;
  private deletedSincePurge = false;
  private timer: TimerHandle | undefined;
  private watching: Promise<boolean> | undefined;
  private stopWatch: (() => void) | undefined;
  private watchRetry: TimerHandle | undefined;
  private stopped = false;
  private readonly offStatus: () => void;
  private readonly fenced: (reason: FenceReason) => void;
  private readonly passivated: () => void;
  private readonly writer: SnapshotWriter;

  constructor(private readonly deps: ActivationsDeps) {
    this.writer = new SnapshotWriter({ system: deps.system, snapshots: deps.snapshots, placement: deps.placement, end: (a, reason, err) => this.end(a, reason, err) });
    const now = this.clock.now();
    this.lastTick = now;
    this.lastSweep = now;
    this.lastPurge = now;
    const m = deps.system.metrics;
    const fenced = m.counter('hive_virtual_fenced_total', 'Virtual-actor activations on this node that stopped serving because another node owns the actor now, or a save failed', ['reason']);
    this.fenced = (reason) => fenced.labels(reason).inc();
    const passivated = m.counter('hive_virtual_passivations_total', 'Idle virtual actors this node passivated (state saved, placement released)');
    this.passivated = () => passivated.inc();
    const active = this.active;
    m.gauge('hive_virtual_actors', 'Virtual actors active on this node', [], function () {
      this.set(active.size);
    });
    this.offStatus = deps.transport.onStatus((s) => {
      // while disconnected the watch may have missed a change: each activation checks its placement once more
      if (s === 'reconnected') this.suspect();
    });
    this.schedule();
  }

  private get system(): ActorSystem {
    return this.deps.system;
  }

  private get clock() {
    return this.deps.system.clock;
  }

  private get nodeId(): string {
    return this.system.config.nodeId;
  }

  private get passivateAfterMs(): number {
    return this.system.config.passivateAfterMs;
  }

  /** How long this node may go without running its timer before it doubts its placements (half of failureAfterMs). */
  private get stallMs(): number {
    return this.system.config.failureAfterMs / 2;
  }

  /** The serving activation of `id` here, if any. */
  get(id: string): Activation | undefined {
    return this.active.get(id);
  }

  /** The activation or passivation of `id` under way here, if any. */
  pending(id: string): Promise<void> | undefined {
    return this.transitions.get(id);
  }

  list(): Activation[] {
    return [...this.active.values()];
  }

  // ------------------------------------------------------------------ timers: stalls, passivation

  private schedule(): void {
    if (this.stopped) return;
    const every = Math.max(1, Math.min(this.system.config.heartbeatMs, this.stallMs / 2));
    this.timer = this.clock.setTimeout(() => this.tick(), every);
  }

  private tick(): void {
    if (this.stopped) return;
    const now = this.clock.now();
    this.stalled(now);
    this.lastTick = now;
    const idle = this.passivateAfterMs;
    if (idle > 0 && now - this.lastSweep >= Math.min(idle / 4, 60_000)) {
      this.lastSweep = now;
      for (const a of [...this.active.values()]) {
        if (now - a.lastUsed >= idle) this.passivate(a)?.catch((err: unknown) => this.system.logger.warn({ err, actor: a.id }, 'could not passivate virtual actor'));
      }
    }
    if (this.deletedSincePurge && now - this.lastPurge >= PURGE_DELETED_PLACEMENTS_AFTER_MS) {
      this.lastPurge = now;
      this.deletedSincePurge = false;
      this.deps.placement.purgeDeletes(PURGE_DELETED_PLACEMENTS_AFTER_MS).catch((err: unknown) => this.system.logger.debug({ err }, 'could not purge deleted placements'));
    }
    this.schedule();
  }

  /** True (and every activation must check its placement again) when this node's timer has not run for stallMs. */
  private stalled(now = this.clock.now()): boolean {
    if (now - this.lastTick <= this.stallMs) return false;
    this.system.logger.warn({ stalledMs: now - this.lastTick }, 'this node stalled: virtual actors check their placement before serving again');
    this.lastTick = now;
    this.suspect();
    return true;
  }

  /** This node may have missed a placement change: each activation reads its placement once before serving. */
  private suspect(): void {
    this.gen += 1;
  }

  // ------------------------------------------------------------------ the placement watch

  /** Starts the placement watch (once); resolves true when this call started it. */
  private ensureWatch(): Promise<boolean> {
    this.watching ??= this.deps.placement
      .watch(
        (c) => this.onPlacementChange(c),
        (err) => this.onWatchEnd(err),
      )
      .then(
        (stop) => {
          if (this.stopped) stop();
          else this.stopWatch = stop;
          return true;
        },
        (err: unknown) => {
          this.watching = undefined;
          throw err;
        },
      );
    return this.watching.then(() => false);
  }

  /** Starts the watch now (when the node registers its first kind, so its placement cache is invalidated too). */
  startWatch(): void {
    this.ensureWatch().catch((err: unknown) => this.system.logger.warn({ err }, 'could not watch virtual-actor placements'));
  }

  private onPlacementChange(c: KvChange): void {
    const k = parsePlacementKey(c.key);
    if (k === undefined) return;
    const id = virtualActorId(k.kind, k.key);
    this.deps.placementChanged(id);
    if (this.transitions.has(id) && !this.active.has(id)) this.seenWhileActivating.set(id, Math.max(c.revision, this.seenWhileActivating.get(id) ?? 0));
    const a = this.active.get(id);
    if (a !== undefined && c.revision > a.placementRevision) this.end(a, 'placement-moved', fencedError(a.kind, a.key, this.nodeId));
  }

  private onWatchEnd(err: unknown): void {
    this.watching = undefined;
    this.stopWatch = undefined;
    if (this.stopped) return;
    this.system.logger.warn({ err }, 'the virtual-actor placement watch ended: activations check their placement before serving, watch again in 1 s');
    this.suspect();
    this.watchRetry = this.clock.setTimeout(() => this.startWatch(), 1000);
  }

  // ------------------------------------------------------------------ activation

  /**
   * Activates `kind`/`key` here, holding placement revision `placementRevision` (won by the caller): claims
   * the snapshot entry, restores the actor from it, serves. Rejects with {@link fencedError} when the
   * placement moved on meanwhile. Routing waits for {@link pending} and looks again.
   */
  activate(kind: string, key: string, placementRevision: number): Promise<void> {
    const id = virtualActorId(kind, key);
    const existing = this.transitions.get(id);
    if (existing !== undefined) return existing;
    const p = this.doActivate(kind, key, id, placementRevision).finally(() => {
      this.transitions.delete(id);
      this.seenWhileActivating.delete(id);
    });
    this.transitions.set(id, p);
    return p;
  }

  private async doActivate(kind: string, key: string, id: string, placementRevision: number): Promise<void> {
    if (this.active.has(id)) return;
    const logic = this.deps.logicOf(kind);
    if (logic === undefined) throw new NoSuchActorError(`kind "${kind}" is not registered on node "${this.nodeId}"`);
    // a watch started only now may have missed a change made since the placement was won: check once
    const watchIsNew = await this.ensureWatch();
    const { state, revision } = await this.writer.claim(kind, key, placementRevision);
    if (this.stopped) throw new UnavailableError(`node "${this.nodeId}" is stopping`);
    const snapshot = state === null ? undefined : (this.system.codec.decode(state) as Snapshot<unknown>);
    this.system.spawn(logic, snapshot === undefined ? { id, kind, localOnly: true } : { id, kind, localOnly: true, snapshot });
    const actor = this.system.localActor(id)!;
    const a = new Activation(kind, key, placementRevision, revision, this.clock.now(), watchIsNew ? -1 : this.gen);
    let last: unknown = actor.getSnapshot();
    const s = actor.subscribe({
      // called at the end of every transition, changed or not
      next: (snap: unknown) => {
        if (snap !== last) {
          last = snap;
          a.version += 1;
          this.writer.save(a);
        }
        if (a.answered.length > 0) {
          const answered = a.answered;
          a.answered = [];
          for (const f of answered) f(a.version);
        }
      },
      error: () => undefined,
    });
    a.unsubscribe = () => s.unsubscribe();
    a.sub = this.system.transit.serve(actorSubject(this.system.config.cluster, id), (req) => this.deliver(a, req));
    this.active.set(id, a);
    this.system.logger.debug({ kind, key, restored: snapshot !== undefined, placement: placementRevision }, 'virtual actor activated');
    this.deps.changed();
    const seen = this.seenWhileActivating.get(id);
    if (seen !== undefined && seen > placementRevision) this.end(a, 'placement-moved', fencedError(kind, key, this.nodeId));
  }


  // ------------------------------------------------------------------ delivery

  /** Delivers a message that arrived for activation `a`; one it can no longer serve goes back to routing. */
  deliver(a: Activation, req: InboundRequest): void {
    if (!req.isAsk) {
      this.tell(a, req.event).then(
        (delivered) => {
          if (!delivered) this.deps.reroute(a.kind, a.key, req);
        },
        (err: unknown) => this.system.logger.warn({ err, actor: a.id }, 'tell to virtual actor refused'),
      );
      return;
    }
    this.ask(a, req.event, { deadline: req.deadline, inbound: req }).then(
      (answer) => req.ok(answer),
      (err: unknown) => (isFenced(err) ? this.deps.reroute(a.kind, a.key, req) : req.fail(err)),
    );
  }

  /** Tells activation `a`; false when it no longer serves (route the event again). */
  async tell(a: Activation, event: HiveEvent): Promise<boolean> {
    if (!(await this.ready(a))) return false;
    a.lastUsed = this.clock.now();
    this.system.tell(a.id, event);
    return true;
  }

  /**
   * Asks activation `a`; the answer comes once the state it was given from is saved. Rejects with
   * {@link fencedError} when `a` lost the actor before the change was saved (route it again: not applied).
   */
  async ask(a: Activation, event: HiveEvent, options: AskCallOptions): Promise<HiveEvent> {
    if (!(await this.ready(a))) throw fencedError(a.kind, a.key, this.nodeId);
    a.inflight += 1;
    a.lastUsed = this.clock.now();
    // the version before this ask: any change it makes comes after it
    const sent = a.version;
    // the version right after the transition that answered it (exact), when it answers in a transition
    let holding: number | undefined;
    const onAnswered = () => a.answered.push((v) => (holding = v));
    try {
      let answer: HiveEvent;
      try {
        answer = await this.system.ask(a.id, event, { ...options, onAnswered });
      } catch (err) {
        if (a.state === 'active') throw err;
        // stopped under it (it lost the actor): routed again only when no change of it can have been saved
        if (a.saved <= sent) throw fencedError(a.kind, a.key, this.nodeId);
        throw outcomeUnknown(a, err);
      }
      const version = holding ?? a.version;
      try {
        await this.writer.persisted(a, version);
      } catch (err) {
        // never saved: routed again; unless the version is a bound only (an answer from outside a transition)
        if (isFenced(err) && holding === undefined && a.saved > sent) throw outcomeUnknown(a, err);
        throw err;
      }
      return answer;
    } finally {
      a.inflight -= 1;
      a.lastUsed = this.clock.now();
    }
  }

  /** True when `a` may serve now: active, and its placement proven since the last stall or reconnect. */
  private async ready(a: Activation): Promise<boolean> {
    if (a.state !== 'active') return false;
    this.stalled();
    if (a.verifiedGen >= this.gen) return true;
    a.verifying ??= this.verify(a).finally(() => (a.verifying = undefined));
    return a.verifying;
  }

  /** Reads `a`'s placement: still the revision it won (true), or ends it (false). */
  private async verify(a: Activation): Promise<boolean> {
    const gen = this.gen;
    const entry = await this.deps.placement.get(a.pkey);
    if (a.state !== 'active') return false;
    if (entry?.revision === a.placementRevision) {
      a.verifiedGen = Math.max(a.verifiedGen, gen);
      return true;
    }
    this.end(a, 'placement-moved', fencedError(a.kind, a.key, this.nodeId));
    return false;
  }


  // ------------------------------------------------------------------ ending: fenced, failed, passivated

  /**
   * `a` stops serving for good: off the active table and its subject, its actor stopped (asks inside it are
   * routed again), its unsaved waiters rejected with `err` once no save is in flight (a save already sent may
   * still succeed: its waiters are answered then).
   */
  private end(a: Activation, reason: FenceReason, err: HiveError): void {
    if (a.state === 'ended') return;
    const wasActive = a.state === 'active';
    a.state = 'ended';
    a.endedBy = err;
    if (this.active.get(a.id) === a) this.active.delete(a.id);
    a.sub?.unsubscribe();
    a.unsubscribe();
    if (this.system.localActor(a.id) !== undefined) {
      this.system.stopActor(a.id).catch((e: unknown) => this.system.logger.warn({ err: e, actor: a.id }, 'could not stop virtual actor'));
    }
    if (a.saving === undefined) this.writer.rejectWaiters(a);
    if (!wasActive) return;
    this.fenced(reason);
    this.system.logger.warn({ kind: a.kind, key: a.key, reason, placement: a.placementRevision }, 'virtual actor activation fenced off: it no longer serves here');
    if (reason === 'save-failed' || reason === 'actor-gone') void this.release(a);
    this.deps.changed();
  }

  /** Deletes `a`'s placement if it is still the revision `a` won. */
  private release(a: Activation): Promise<void> {
    return this.deps.placement.deleteIf(a.pkey, a.placementRevision).then(
      (deleted) => {
        if (deleted) this.deletedSincePurge = true;
      },
      (err: unknown) => this.system.logger.warn({ err, actor: a.id }, 'could not release virtual actor placement'),
    );
  }

  /**
   * Passivates `a` if it is idle (nothing in flight, everything saved): it stops serving, its actor stops, its
   * placement is deleted; its snapshot stays for the next activation. Returns the passivation, or undefined.
   */
  passivate(a: Activation, force = false): Promise<void> | undefined {
    if (a.state !== 'active' || this.transitions.has(a.id)) return undefined;
    if (!force && (a.inflight > 0 || a.saving !== undefined || a.saved < a.version)) return undefined;
    a.state = 'passivating';
    this.active.delete(a.id);
    a.sub?.unsubscribe();
    a.unsubscribe();
    const p = (async () => {
      await this.system.stopActor(a.id);
      a.state = 'ended';
      a.endedBy = fencedError(a.kind, a.key, this.nodeId);
      if (a.saving === undefined) this.writer.rejectWaiters(a);
      await this.release(a);
      this.passivated();
      this.system.logger.debug({ kind: a.kind, key: a.key }, 'virtual actor passivated');
      this.deps.changed();
    })().finally(() => this.transitions.delete(a.id));
    this.transitions.set(a.id, p);
    return p;
  }

  /** Saves every activation, stops them and releases their placements (node stop). */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    if (this.watchRetry !== undefined) this.clock.clearTimeout(this.watchRetry);
    this.offStatus();
    await Promise.allSettled([...this.transitions.values()]);
    for (const a of [...this.active.values()]) {
      await this.writer.persisted(a, a.version).catch(() => undefined);
      // asks still inside get ACTOR_STOPPED from here on: their changes are never saved
      await this.passivate(a, true);
    }
    this.stopWatch?.();
    this.stopWatch = undefined;
  }
}
