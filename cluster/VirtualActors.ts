// Virtual actors: `hive.actor(kind, key)` reaches an actor of a registered kind that is activated on first
// message, on the node placement picks, with exactly one live activation cluster-wide (KV create-if-absent,
// revision-checked takeover). Its xstate snapshot is persisted after each change (an ask is answered only
// once the state it answers from is saved), so when its node dies a surviving node re-activates it with
// its state. Anyone reaches it on `hive.<cluster>.kind.<kind>.<key>`, active or not.
import type { AnyActorLogic, Snapshot } from 'xstate';
import type { HiveEvent } from '../protocols/envelope.js';
import { HiveError, InvalidArgumentError, NoSuchActorError, toHiveError } from '../protocols/errors.js';
import { actorSubject, assertToken, isToken, sysSubject, virtualSubject } from '../protocols/subjects.js';
import type { ActorSystem, AskCallOptions } from '../runtime/ActorSystem.js';
import type { AskOptions } from '../runtime/ActorRef.js';
import type { KeyValueStore } from '../runtime/KeyValueStore.js';
import type { InboundRequest, Transit } from '../runtime/Transit.js';
import type { Transport, TransportSubscription } from '../runtime/Transport.js';
import type { Membership } from './Membership.js';

/** Where a virtual actor lives, as stored in the placement bucket. */
interface Placement {
  node: string;
  at: number;
}

/** A local activation and its persistence state. */
interface Activation {
  kind: string;
  key: string;
  id: string;
  sub: TransportSubscription;
  /** Bumped on every snapshot change. */
  version: number;
  /** The version last written to the snapshot store. */
  saved: number;
  saving: Promise<void> | undefined;
  waiters: Array<{ version: number; resolve: () => void; reject: (e: unknown) => void }>;
  unsubscribe: () => void;
}

/** The id a virtual actor has on its node: `<kind>--<key>` (kinds may not contain `--`). */
export function virtualActorId(kind: string, key: string): string {
  return `${kind}--${key}`;
}

/** A handle on a virtual actor: same calls as an ActorRef, activation on first message. */
export class VirtualRef {
  /** @internal */
  constructor(
    readonly kind: string,
    readonly key: string,
    private readonly host: VirtualActors,
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
   * Sends and waits for the reply; the state the reply comes from is persisted before it arrives. Takes a
   * timeout (its deadline travels with every hop) and a signal that cancels it (`CANCELLED`).
   */
  ask<TReply extends HiveEvent = HiveEvent>(event: HiveEvent, options: AskOptions = {}): Promise<TReply> {
    return this.host.ask(this.kind, this.key, event, options) as Promise<TReply>;
  }
}

/** Owners of virtual actors this node remembers (the oldest are forgotten first). */
const MAX_CACHED_PLACEMENTS = 10_000;

/**
 * Registered kinds, placement and activation of virtual actors on one node. Placement is cached (actor id →
 * owner node): a message to an actor active on another node goes straight to that node's subject, one hop,
 * no KV read. The cache forgets a node's entries when it leaves or fails, everything when a node joins,
 * and an entry when its owner answers NO_SUCH_ACTOR.
 */
export class VirtualActors {
  private readonly kinds = new Map<string, { logic: AnyActorLogic; sub: TransportSubscription | undefined }>();
  private readonly active = new Map<string, Activation>();
  private readonly activating = new Map<string, Promise<void>>();
  private nodeSub: TransportSubscription | undefined;
  private readonly owners = new Map<string, string>();
  private readonly unwatch: (() => void) | undefined;
  private readonly lookups: { cache: () => void; kv: () => void };

  constructor(
    private readonly deps: {
      system: ActorSystem;
      transport: Transport;
      placement: KeyValueStore;
      snapshots: KeyValueStore;
      membership: Membership | undefined;
    },
  ) {
    this.unwatch = deps.membership?.subscribe((e) => {
      if (e.type === 'join') this.owners.clear();
      else if (e.type === 'leave' || e.type === 'fail') for (const [id, node] of this.owners) if (node === e.node) this.owners.delete(id);
    });
    const c = deps.system.metrics.counter('hive_placement_lookups_total', "Where this node found a virtual actor's owner: its placement cache or the KV bucket", ['source']);
    const cache = c.labels('cache');
    const kv = c.labels('kv');
    this.lookups = { cache: () => cache.inc(), kv: () => kv.inc() };
  }

  /** The cached owner of virtual actor `id`, when it is another live node. */
  private cachedOwner(id: string): string | undefined {
    const node = this.owners.get(id);
    if (node === undefined) return undefined;
    if (node === this.nodeId || (this.deps.membership !== undefined && !this.deps.membership.isLive(node))) {
      this.owners.delete(id);
      return undefined;
    }
    this.lookups.cache();
    return node;
  }

  private rememberOwner(id: string, node: string): void {
    if (node === this.nodeId) return;
    this.owners.delete(id);
    this.owners.set(id, node);
    if (this.owners.size > MAX_CACHED_PLACEMENTS) this.owners.delete(this.owners.keys().next().value!);
  }

  /** Reads a placement from the KV bucket (counted: the cache is there to avoid this). */
  private readPlacement(kind: string, key: string): ReturnType<KeyValueStore['get']> {
    this.lookups.kv();
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

  /** The logic registered for `kind`, if any. */
  /** `<kind>/<key>` for the id of a virtual actor active here (how users name it), else undefined. */
  nameOf(id: string): string | undefined {
    const a = this.active.get(id);
    return a === undefined ? undefined : `${a.kind}/${a.key}`;
  }

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
    const a = this.active.get(virtualActorId(kind, key));
    if (a !== undefined) {
      this.system.tell(a.id, event);
      return;
    }
    const owner = this.cachedOwner(virtualActorId(kind, key));
    this.transit.tell(owner === undefined ? virtualSubject(this.cluster, kind, key) : this.placedSubject(owner, kind, key), event);
  }

  /** @internal */
  async ask(kind: string, key: string, event: HiveEvent, options: AskCallOptions = {}): Promise<HiveEvent> {
    const id = virtualActorId(kind, key);
    const a = this.active.get(id);
    if (a !== undefined) {
      const answer = await this.system.ask(a.id, event, options);
      await this.persisted(a);
      return answer;
    }
    const deadline = options.deadline ?? this.system.clock.now() + (options.timeoutMs ?? this.system.config.askTimeoutMs);
    const call = { deadline, signal: options.signal, guardKey: id, what: `${kind}/${key}` };
    let owner = this.cachedOwner(id);
    if (owner === undefined) {
      // not cached: one KV read tells the owner (later messages skip it); no placement yet: the kind's subject activates it
      const entry = await this.readPlacement(kind, key).catch(() => undefined);
      const node = entry === undefined ? undefined : this.decodePlacement(entry.value).node;
      if (node !== undefined && node !== this.nodeId && (this.deps.membership === undefined || this.deps.membership.isLive(node))) {
        this.rememberOwner(id, node);
        owner = node;
      }
    }
    if (owner !== undefined) {
      try {
        return await this.transit.request(this.placedSubject(owner, kind, key), event, call);
      } catch (err) {
        if (!(err instanceof HiveError && err.code === 'NO_SUCH_ACTOR')) throw err;
        this.owners.delete(id);
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

  private async route(kind: string, key: string, req: InboundRequest, placedHere: boolean): Promise<void> {
    const id = virtualActorId(kind, key);
    try {
      for (let attempt = 0; attempt < 5; attempt++) {
        if (this.active.has(id)) return this.deliverLocal(id, req);
        const pending = this.activating.get(id);
        if (pending !== undefined) {
          await pending;
          continue;
        }
        const cached = placedHere ? undefined : this.cachedOwner(id);
        if (cached !== undefined) {
          if (await this.forward(this.placedSubject(cached, kind, key), req, true)) return;
          this.owners.delete(id);
        }
        const pkey = placementKey(kind, key);
        const entry = await this.readPlacement(kind, key);
        if (entry === undefined) {
          const target = placedHere ? this.nodeId : this.pickNode(kind);
          if (target !== this.nodeId) {
            await this.forward(sysSubject(this.cluster, 'node', target, 'kind', kind, key), req);
            return;
          }
          const rev = await this.deps.placement.create(pkey, this.encodePlacement());
          if (rev === undefined) continue; // another node won the race: read again
          await this.activate(kind, key);
          continue;
        }
        const placement = this.decodePlacement(entry.value);
        if (placement.node === this.nodeId) {
          // placed here but not active (this node restarted with the same id): activate again
          await this.activate(kind, key);
          continue;
        }
        const alive = this.deps.membership === undefined || this.deps.membership.isLive(placement.node);
        if (alive) {
          this.rememberOwner(id, placement.node);
          // Through the owner node's own subject (live as long as the node is), not the actor's: an actor
          // still activating there has no subscription yet, and taking it over then would activate it twice.
          const delivered = await this.forward(sysSubject(this.cluster, 'node', placement.node, 'kind', kind, key), req, true);
          if (delivered) return;
        }
        // its node is gone (or no longer hosts it): take it over, from its last persisted snapshot
        const rev = await this.deps.placement.update(pkey, this.encodePlacement(), entry.revision);
        if (rev !== undefined) {
          this.system.logger.info({ kind, key, from: placement.node }, 'virtual actor taken over');
          await this.activate(kind, key);
        }
      }
      throw new NoSuchActorError(`could not place virtual actor ${kind}/${key}: placement kept changing`);
    } catch (err) {
      this.answerError(req, err);
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

  // ------------------------------------------------------------------ activation and persistence

  private activate(kind: string, key: string): Promise<void> {
    const id = virtualActorId(kind, key);
    const existing = this.activating.get(id);
    if (existing !== undefined) return existing;
    const p = this.doActivate(kind, key, id).finally(() => this.activating.delete(id));
    this.activating.set(id, p);
    return p;
  }

  private async doActivate(kind: string, key: string, id: string): Promise<void> {
    if (this.active.has(id)) return;
    const logic = this.kinds.get(kind)?.logic;
    if (logic === undefined) throw new NoSuchActorError(`kind "${kind}" is not registered on node "${this.nodeId}"`);
    const saved = await this.deps.snapshots.get(placementKey(kind, key));
    const snapshot = saved === undefined ? undefined : (this.system.codec.decode(saved.value) as Snapshot<unknown>);
    this.system.spawn(logic, snapshot === undefined ? { id, kind, localOnly: true } : { id, kind, localOnly: true, snapshot });
    const actor = this.system.localActor(id)!;
    const activation: Activation = {
      kind,
      key,
      id,
      sub: this.transit.serve(actorSubject(this.cluster, id), (req) => this.deliverLocal(id, req)),
      version: 0,
      saved: 0,
      saving: undefined,
      waiters: [],
      unsubscribe: () => undefined,
    };
    let last: unknown = actor.getSnapshot();
    const s = actor.subscribe({
      next: (snap: unknown) => {
        if (snap === last) return;
        last = snap;
        activation.version += 1;
        this.save(activation);
      },
      error: () => undefined,
    });
    activation.unsubscribe = () => s.unsubscribe();
    this.active.set(id, activation);
    this.system.logger.debug({ kind, key, restored: snapshot !== undefined }, 'virtual actor activated');
    this.deps.membership?.beat();
  }

  /** Writes the actor's snapshot, one write in flight at a time, coalescing changes made meanwhile. */
  private save(a: Activation): void {
    if (a.saving !== undefined) return;
    a.saving = (async () => {
      while (a.saved < a.version) {
        const version = a.version;
        const actor = this.system.localActor(a.id);
        if (actor === undefined) break;
        try {
          const bytes = this.system.codec.encode(actor.getPersistedSnapshot());
          await this.deps.snapshots.put(placementKey(a.kind, a.key), bytes);
          a.saved = version;
          a.waiters = a.waiters.filter((w) => (w.version <= version ? (w.resolve(), false) : true));
        } catch (err) {
          for (const w of a.waiters) w.reject(err);
          a.waiters = [];
          this.system.logger.error({ err, actor: a.id }, 'could not persist virtual actor snapshot');
          break;
        }
      }
    })()
      .catch((err: unknown) => this.system.logger.error({ err, actor: a.id }, 'virtual actor snapshot loop failed'))
      .finally(() => {
        a.saving = undefined;
        if (a.saved < a.version && a.waiters.length > 0) this.save(a);
      });
  }

  /** Resolves once every state change so far has been persisted. */
  private persisted(a: Activation): Promise<void> {
    if (a.saved >= a.version) return Promise.resolve();
    return new Promise((resolve, reject) => {
      a.waiters.push({ version: a.version, resolve, reject });
      this.save(a);
    });
  }

  /** Delivers a message to a local activation; an ask is answered after its state is persisted. */
  private deliverLocal(id: string, req: InboundRequest): void {
    const a = this.active.get(id);
    if (a === undefined) {
      this.answerError(req, new NoSuchActorError(`virtual actor "${id}" is not active on node "${this.nodeId}"`));
      return;
    }
    if (!req.isAsk) {
      try {
        this.system.tell(id, req.event);
      } catch (err) {
        this.system.logger.warn({ err, actor: id }, 'tell to virtual actor refused');
      }
      return;
    }
    this.system
      .ask(id, req.event, { deadline: req.deadline, signal: req.signal })
      .then(async (answer) => {
        await this.persisted(a);
        req.ok(answer);
      })
      .catch((err: unknown) => req.fail(err));
  }

  private encodePlacement(): Uint8Array {
    const p: Placement = { node: this.nodeId, at: this.system.clock.now() };
    return this.system.codec.encode(p);
  }

  private decodePlacement(bytes: Uint8Array): Placement {
    return this.system.codec.decode(bytes) as Placement;
  }

  /** Local activations (for status). */
  activations(): Array<{ kind: string; key: string; id: string }> {
    return [...this.active.values()].map(({ kind, key, id }) => ({ kind, key, id }));
  }

  /** Persists every local activation, releases its placement so others can take it at once, and stops listening. */
  async stop(): Promise<void> {
    this.unwatch?.();
    this.owners.clear();
    for (const k of this.kinds.values()) k.sub?.unsubscribe();
    this.nodeSub?.unsubscribe();
    for (const a of this.active.values()) {
      a.sub.unsubscribe();
      try {
        await this.persisted(a);
        const entry = await this.deps.placement.get(placementKey(a.kind, a.key));
        if (entry !== undefined && this.decodePlacement(entry.value).node === this.nodeId) await this.deps.placement.delete(placementKey(a.kind, a.key));
      } catch (err) {
        this.system.logger.warn({ err, actor: a.id }, 'could not release virtual actor on stop');
      }
      a.unsubscribe();
    }
    this.active.clear();
  }
}

/** True for the NO_SUCH_ACTOR a request gets when nothing subscribes to its subject (not an error answer). */
function isNoResponders(err: unknown): boolean {
  return err instanceof HiveError && err.code === 'NO_SUCH_ACTOR' && err.details?.['noResponders'] === true;
}

/** KV key of a virtual actor: `<kind>.<key>`. */
function placementKey(kind: string, key: string): string {
  return `${kind}.${key}`;
}
