// Virtual actors: `hive.actor(kind, key)` reaches an actor of a registered kind that is activated on first
// message, on the node placement picks; anyone reaches it on `hive.<cluster>.kind.<kind>.<key>`, active or
// not. This module registers kinds and routes messages; the parts live in ./virtual/: the placement record
// and cache (placement.ts), the fenced activations with their snapshots and passivation (Activations.ts,
// snapshots.ts), the handle users hold (VirtualRef.ts).
//
// One activation per actor, fenced: an activation holds the placement revision it won (KV create, or
// update with the previous revision), claims the snapshot entry with a revision-checked write, and saves
// every change with a revision-checked update; an ask is answered only once its change is saved. An
// activation that loses the placement (the KV watch says so) or a save stops serving at once, and what it
// had not saved goes back to routing, to the new owner.
import type { AnyActorLogic } from 'xstate';
import type { HiveEvent } from '../protocols/envelope.js';
import { HiveError, InvalidArgumentError, NoSuchActorError, UnavailableError, toHiveError } from '../protocols/errors.js';
import { assertToken, isToken, sysSubject, virtualSubject } from '../protocols/subjects.js';
import type { ActorSystem, AskCallOptions } from '../runtime/ActorSystem.js';
import type { WatchableKeyValue } from '../runtime/KeyValueStore.js';
import type { InboundRequest, Transit } from '../runtime/Transit.js';
import type { Transport, TransportSubscription } from '../runtime/Transport.js';
import type { Membership } from './Membership.js';
import { Activations, isFenced } from './virtual/Activations.js';
import { PlacementCache, decodePlacement, encodePlacement, placementKey } from './virtual/placement.js';
import { VirtualRef, virtualActorId } from './virtual/VirtualRef.js';

export { VirtualRef, virtualActorId };

/** Times a call re-routes after the owner it reached lost the actor before saving its change. */
const MAX_REROUTES = 3;

/**
 * Registered kinds, placement and routing of virtual actors on one node. Placement is cached (actor id →
 * owner node): a message to an actor active on another node goes straight to that node's subject, one hop,
 * no KV read.
 */
export class VirtualActors {
  private readonly kinds = new Map<string, { logic: AnyActorLogic; sub: TransportSubscription | undefined }>();
  private nodeSub: TransportSubscription | undefined;
  private readonly cache: PlacementCache;
  private readonly hosted: Activations;
  private stopping = false;

  constructor(
    private readonly deps: {
      system: ActorSystem;
      transport: Transport;
      placement: WatchableKeyValue;
      snapshots: WatchableKeyValue;
      membership: Membership | undefined;
    },
  ) {
    this.cache = new PlacementCache(deps.system.config.nodeId, deps.membership, deps.system.metrics);
    this.hosted = new Activations({
      system: deps.system,
      transport: deps.transport,
      placement: deps.placement,
      snapshots: deps.snapshots,
      logicOf: (kind) => this.kinds.get(kind)?.logic,
      reroute: (kind, key, req) => this.reroute(kind, key, req),
      placementChanged: (id) => this.cache.forget(id),
      changed: () => this.deps.membership?.beat(),
    });
  }

  /** Reads a placement from the KV bucket (counted: the cache is there to avoid this). */
  private readPlacement(kind: string, key: string): ReturnType<WatchableKeyValue['get']> {
    this.cache.countRead();
    return this.deps.placement.get(placementKey(kind, key));
  }

  /** `hive.<cluster>.sys.node.<node>.kind.<kind>.<key>`: where a node takes messages for virtual actors it owns. */
  private placedSubject(node: string, kind: string, key: string): string {
    return sysSubject(this.cluster, 'node', node, 'kind', kind, key);
  }

  private get system(): ActorSystem {
    return this.deps.system;
  }

  private get transit(): Transit {
    return this.deps.system.transit;
  }

  private get cluster(): string {
    return this.system.config.cluster;
  }

  private get nodeId(): string {
    return this.system.config.nodeId;
  }

  /** Tokens of `hive.<cluster>.sys.node.<node>.kind`, the prefix of messages placed on this node. */
  private get placedPrefixTokens(): number {
    return sysSubject(this.cluster, 'node', this.nodeId, 'kind').split('.').length;
  }

  /** Kinds this node can activate. */
  registeredKinds(): string[] {
    return [...this.kinds.keys()];
  }

  /** `<kind>/<key>` for the id of a virtual actor active here (how users name it), else undefined. */
  nameOf(id: string): string | undefined {
    const a = this.hosted.get(id);
    return a === undefined ? undefined : `${a.kind}/${a.key}`;
  }

  /** The logic registered for `kind`, if any. */
  logicOf(kind: string): AnyActorLogic | undefined {
    return this.kinds.get(kind)?.logic;
  }

  /** Registers `kind` on this node: it can be spawned by name and activated as a virtual actor here. */
  register(kind: string, logic: AnyActorLogic): void {
    assertToken(kind, 'kind');
    if (kind.includes('--')) throw new InvalidArgumentError(`invalid kind "${kind}": a kind may not contain "--"`, { details: { kind } });
    if (this.kinds.has(kind)) throw new InvalidArgumentError(`kind "${kind}" is already registered on this node`, { details: { kind } });
    const sub = this.deps.transport.connected
      ? this.transit.serve(virtualSubject(this.cluster, kind, '*'), (req) => void this.onKindMessage(kind, req), { queue: `hive-kind-${kind}` })
      : undefined;
    this.kinds.set(kind, { logic, sub });
    this.nodeSub ??= this.deps.transport.connected
      ? this.transit.serve(sysSubject(this.cluster, 'node', this.nodeId, 'kind', '>'), (req) => void this.onPlacedHere(req))
      : undefined;
    this.hosted.startWatch();
    this.deps.membership?.beat();
  }

  /** A handle on the virtual actor `kind`/`key` (validated, not activated). */
  ref(kind: string, key: string): VirtualRef {
    assertToken(kind, 'kind');
    assertToken(key, 'virtual actor key');
    return new VirtualRef(kind, key, this);
  }

  // ------------------------------------------------------------------ calls from this node

  /** @internal */
  tell(kind: string, key: string, event: HiveEvent): void {
    const id = virtualActorId(kind, key);
    const a = this.hosted.get(id);
    if (a !== undefined) {
      this.hosted.tell(a, event).then(
        (delivered) => {
          if (!delivered) this.tellRemote(kind, key, event);
        },
        (err: unknown) => this.system.logger.warn({ err, actor: id }, 'tell to virtual actor refused'),
      );
      return;
    }
    this.tellRemote(kind, key, event);
  }

  private tellRemote(kind: string, key: string, event: HiveEvent): void {
    const owner = this.cache.owner(virtualActorId(kind, key));
    this.transit.tell(owner === undefined ? virtualSubject(this.cluster, kind, key) : this.placedSubject(owner, kind, key), event);
  }

  /** @internal */
  async ask(kind: string, key: string, event: HiveEvent, options: AskCallOptions = {}): Promise<HiveEvent> {
    const deadline = options.deadline ?? this.system.clock.now() + (options.timeoutMs ?? this.system.config.askTimeoutMs);
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.askOnce(kind, key, event, { ...options, deadline });
      } catch (err) {
        // the owner lost the actor before it saved this call's change (not applied): the new owner takes it
        if (!isFenced(err) || attempt >= MAX_REROUTES || this.system.clock.now() >= deadline) throw err;
        this.cache.forget(virtualActorId(kind, key));
      }
    }
  }

  private async askOnce(kind: string, key: string, event: HiveEvent, options: AskCallOptions & { deadline: number }): Promise<HiveEvent> {
    const id = virtualActorId(kind, key);
    const a = this.hosted.get(id);
    if (a !== undefined) return this.hosted.ask(a, event, options);
    const { deadline } = options;
    const call = { deadline, signal: options.signal, guardKey: id, what: `${kind}/${key}` };
    let owner = this.cache.owner(id);
    if (owner === undefined) {
      // not cached: one KV read tells the owner (later messages skip it); no placement yet: the kind's subject activates it
      const entry = await this.readPlacement(kind, key).catch(() => undefined);
      const node = entry === undefined ? undefined : decodePlacement(this.system.codec, entry.value)?.node;
      if (node !== undefined && node !== this.nodeId && this.cache.isLive(node)) {
        this.cache.remember(id, node);
        owner = node;
      }
    }
    if (owner !== undefined) {
      try {
        return await this.transit.request(this.placedSubject(owner, kind, key), event, call);
      } catch (err) {
        if (!(err instanceof HiveError && err.code === 'NO_SUCH_ACTOR')) throw err;
        this.cache.forget(id);
        // nothing delivered there (the node is gone or no longer has the kind): through the kind's subject, same deadline
        if (!isNoResponders(err) && err.details?.['notRegistered'] !== true) throw err;
      }
    }
    const request = () =>
      this.transit.request(virtualSubject(this.cluster, kind, key), event, {
        ...call,
        noResponders: `no node of cluster "${this.cluster}" has registered kind "${kind}"`,
      });
    try {
      return await request();
    } catch (err) {
      // nobody serves the kind yet while this node's view of the cluster is still arriving: wait for a node
      // that registered it (within the deadline), then ask once more
      const membership = this.deps.membership;
      if (toHiveError(err).code !== 'NO_SUCH_ACTOR' || membership === undefined) throw err;
      if (!(await membership.waitFor((live) => live.some((m) => m.kinds.includes(kind)), deadline))) throw err;
      return request();
    }
  }

  // ------------------------------------------------------------------ routing

  /** A message on `hive.<cluster>.kind.<kind>.<key>` (one node of the kind's queue group gets it). */
  private async onKindMessage(kind: string, req: InboundRequest): Promise<void> {
    const key = req.subject.slice(req.subject.lastIndexOf('.') + 1);
    if (!isToken(key)) {
      this.refuseToken(req, key, 'virtual actor key');
      return;
    }
    await this.route(kind, key, req, false);
  }

  /** A message another node placed here: activate here unless someone else already has it. */
  private async onPlacedHere(req: InboundRequest): Promise<void> {
    const parts = req.subject.split('.');
    const key = parts[parts.length - 1];
    const kind = parts[parts.length - 2];
    // A `>` subscription: exactly kind and key after the node's prefix, each one safe token.
    if (parts.length !== this.placedPrefixTokens + 2 || !isToken(kind) || !isToken(key)) {
      this.refuseToken(req, parts.slice(this.placedPrefixTokens).join('.'), 'virtual actor kind/key');
      return;
    }
    if (!this.kinds.has(kind)) {
      this.answerError(req, new NoSuchActorError(`kind "${kind}" is not registered on node "${this.nodeId}"`, { details: { kind, node: this.nodeId, notRegistered: true } }));
      return;
    }
    await this.route(kind, key, req, true);
  }

  /** A message a local activation could not serve (it lost the actor, or passivated): route it again. */
  private reroute(kind: string, key: string, req: InboundRequest): void {
    if (this.stopping) {
      this.answerError(req, new UnavailableError(`node "${this.nodeId}" is stopping: virtual actor ${kind}/${key} moves`, { details: { fenced: true, kind, key, node: this.nodeId } }));
      return;
    }
    void this.route(kind, key, req, false);
  }

  private async route(kind: string, key: string, req: InboundRequest, placedHere: boolean): Promise<void> {
    const id = virtualActorId(kind, key);
    try {
      for (let attempt = 0; attempt < 5; attempt++) {
        const a = this.hosted.get(id);
        if (a !== undefined) return this.hosted.deliver(a, req);
        const pending = this.hosted.pending(id);
        if (pending !== undefined) {
          await pending.catch(() => undefined);
          continue;
        }
        const cached = placedHere ? undefined : this.cache.owner(id);
        if (cached !== undefined) {
          if (await this.forward(this.placedSubject(cached, kind, key), req, true)) return;
          this.cache.forget(id);
        }
        const pkey = placementKey(kind, key);
        const entry = await this.readPlacement(kind, key);
        if (entry === undefined) {
          const target = placedHere ? this.nodeId : this.pickNode(kind);
          if (target !== this.nodeId) {
            await this.forward(this.placedSubject(target, kind, key), req);
            return;
          }
          const rev = await this.deps.placement.create(pkey, encodePlacement(this.system.codec, this.nodeId, this.system.clock.now()));
          if (rev !== undefined) await this.tryActivate(kind, key, rev);
          continue; // won: deliver to it; lost the race: read again
        }
        const placement = decodePlacement(this.system.codec, entry.value);
        if (placement?.node === this.nodeId) {
          // placed here but not active (this node restarted with the same id, or passivated meanwhile): win it
          // again with a revision check, so this activation holds a revision of its own
          const rev = await this.deps.placement.update(pkey, encodePlacement(this.system.codec, this.nodeId, this.system.clock.now()), entry.revision);
          if (rev !== undefined) await this.tryActivate(kind, key, rev);
          continue;
        }
        if (placement !== undefined && this.cache.isLive(placement.node)) {
          this.cache.remember(id, placement.node);
          // Through the owner node's own subject (live as long as the node is), not the actor's: an actor
          // still activating there has no subscription yet, and taking it over then would activate it twice.
          if (await this.forward(this.placedSubject(placement.node, kind, key), req, true)) return;
          this.cache.forget(id);
        }
        // its node is gone (or no longer hosts it, or the entry is not a placement): take it over, from its
        // last saved snapshot; the old owner, should it still live, is fenced by the revision it held
        const rev = await this.deps.placement.update(pkey, encodePlacement(this.system.codec, this.nodeId, this.system.clock.now()), entry.revision);
        if (rev !== undefined) {
          this.system.logger.info({ kind, key, from: placement?.node }, 'virtual actor taken over');
          await this.tryActivate(kind, key, rev);
        }
      }
      throw new NoSuchActorError(`could not place virtual actor ${kind}/${key}: placement kept changing`);
    } catch (err) {
      this.answerError(req, err);
    }
  }

  /** Activates with the placement revision just won; losing it again meanwhile is not an error (route again). */
  private async tryActivate(kind: string, key: string, placementRevision: number): Promise<void> {
    try {
      await this.hosted.activate(kind, key, placementRevision);
    } catch (err) {
      if (!isFenced(err)) throw err;
    }
  }

  /** The least loaded live node that registered `kind` (this node on ties). */
  private pickNode(kind: string): string {
    const members = this.deps.membership?.live() ?? [];
    let best = this.nodeId;
    let bestLoad = this.system.size;
    for (const m of members) {
      if (m.node === this.nodeId || !m.kinds.includes(kind) || !this.deps.membership!.isLive(m.node)) continue;
      if (m.actors < bestLoad) {
        best = m.node;
        bestLoad = m.actors;
      }
    }
    return best;
  }

  /**
   * Passes `req` on to `subject` through the transit, with the deadline and signal it came with (the hop
   * spends the caller's remaining budget, never a fresh one); the answer goes back to the original asker.
   * With `probe`, resolves false (instead of answering) when nothing serves `subject`, so the caller can
   * take the actor over.
   */
  private async forward(subject: string, req: InboundRequest, probe = false): Promise<boolean> {
    if (!req.isAsk) {
      this.transit.tell(subject, req.event);
      return true;
    }
    try {
      req.ok(await this.transit.request(subject, req.event, { deadline: req.deadline, signal: req.signal, what: subject }));
    } catch (err) {
      if (probe && isNoResponders(err)) return false;
      req.fail(err);
    }
    return true;
  }

  private refuseToken(req: InboundRequest, value: string, what: string): void {
    try {
      assertToken(value, what);
    } catch (err) {
      this.answerError(req, err);
    }
  }

  private answerError(req: InboundRequest, err: unknown): void {
    if (req.isAsk) req.fail(err);
    else this.system.logger.warn({ err, subject: req.subject }, 'virtual actor message dropped');
  }

  /** Local activations (for status). */
  activations(): Array<{ kind: string; key: string; id: string }> {
    return this.hosted.list().map(({ kind, key, id }) => ({ kind, key, id }));
  }

  /** @internal The activations (tests: passivate, inspect revisions). */
  get local(): Activations {
    return this.hosted;
  }

  /** @internal The placement and snapshot stores (tests). */
  get stores(): { placement: WatchableKeyValue; snapshots: WatchableKeyValue } {
    return { placement: this.deps.placement, snapshots: this.deps.snapshots };
  }

  /** Persists every local activation, releases its placement so others can take it at once, and stops listening. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.cache.stop();
    for (const k of this.kinds.values()) k.sub?.unsubscribe();
    this.nodeSub?.unsubscribe();
    await this.hosted.stop();
  }
}

/** True for the NO_SUCH_ACTOR a request gets when nothing subscribes to its subject (not an error answer). */
function isNoResponders(err: unknown): boolean {
  return err instanceof HiveError && err.code === 'NO_SUCH_ACTOR' && err.details?.['noResponders'] === true;
}
