// The supervisor as an xstate v5 machine. It runs as an actor of the node's ActorSystem (local only) and
// supervises child actors of that system: it hears their lifecycle events through an invoked callback,
// restarts them per its strategy and their restart policy after a backoff delay, and when more than N
// restarts happen in T ms it stops every child and escalates to its parent supervisor (the node's root
// supervisor, which has no parent, logs at error level, signals and leaves the children stopped).
//
// State chart: `running` (supervising) and, for a supervisor with a parent, `escalated` (gave up; children
// stopped; waits for its parent to restart or stop it). The child table, the restart-intensity history
// and the backoff state are mutable objects in the context, changed only by this machine's actions, so
// adopting one more child is O(1) however many a supervisor has. Children are spawned by the invoked
// `childHost` callback (on `sendTo`), not inside custom actions: xstate runs builtin sends after the
// transition, and a machine created inside a custom action trips xstate's dev-mode warnings.
//
// Snapshots (`from: 'snapshot'`): the supervisor observes such a child's snapshots and keeps the last one
// with status `active` BY REFERENCE (one assignment per processed message, no serialisation). A message
// that throws never produces a snapshot (xstate keeps the previous one), so what is kept is the state
// after the last message handled without error; it is turned into a persisted snapshot
// (`logic.getPersistedSnapshot`) only when a restart needs it.
import { and, fromCallback, not, sendTo, setup, type AnyActorRef, type Snapshot } from 'xstate';
import type { ActorSystem, SpawnOptions } from '../../runtime/ActorSystem.js';
import { reply } from '../../runtime/reply.js';
import { DuplicateActorError, InvalidArgumentError, toHiveError } from '../../protocols/errors.js';
import { assertToken } from '../../protocols/subjects.js';
import { Backoff, resolveBackoff, type BackoffOptions, type ResolvedBackoff } from '../../runtime/Backoff.js';
import { ChildRecord, ChildTable, type ChildSpec, type ResolvedChildSpec } from './ChildTable.js';
import { RestartIntensity, resolveIntensity, type IntensityOptions } from './RestartIntensity.js';
import type { SupervisionSignals } from './signals.js';
import {
  checkOneOf,
  restartFroms,
  restartPolicies,
  restartSet,
  strategies,
  wantsRestart,
  type RestartPolicy,
  type SupervisionStrategy,
  type TerminationReason,
} from './strategy.js';

/** A child that is itself a supervisor (supervision trees, declared in one piece). */
export interface SupervisorChildSpec {
  /** The child supervisor's actor id (and its name in metrics). */
  id: string;
  supervisor: SupervisorOptions;
  /** Its restart policy under this supervisor. Default `permanent`. A supervisor always restarts fresh. */
  restart?: RestartPolicy;
}

/** How a supervisor supervises. Every field is optional; the defaults are documented on each. */
export interface SupervisorOptions {
  /** Default `one-for-one`. */
  strategy?: SupervisionStrategy;
  /** Default {@link defaultIntensity}: 10 restarts in 60 s. */
  intensity?: Partial<IntensityOptions>;
  /** Default {@link defaultBackoff}: 10 ms doubling to 5 s, full jitter, reset after 30 s up. */
  backoff?: BackoffOptions;
  /** Children started, in this order, when the supervisor starts (and again when it is restarted). */
  children?: ReadonlyArray<ChildSpec | SupervisorChildSpec>;
  /** Uniform random numbers in [0, 1) for the backoff jitter (default `Math.random`; inherited by child supervisors). */
  random?: () => number;
}

/** What the supervisor machine is started with. */
export interface SupervisorInput extends SupervisorOptions {
  /** This supervisor's actor id. */
  id: string;
  /** Its label in metrics, logs and signals. Default: `id`. */
  name?: string;
  /** The actor system its children live in (the same the supervisor runs in). */
  system: ActorSystem;
  /** The parent supervisor's actor id; none for a node's root supervisor. */
  parent?: string;
  /** The parent's label (in signals). Default: `parent`. */
  parentName?: string;
  /** Where supervision events go (shared by a tree). */
  signals?: SupervisionSignals;
}

/** The events the supervisor machine handles. The `child.*`, `adopt` and `restart` events are sent by Hive itself. */
export type SupervisorMessage =
  | { type: 'child.failed'; id: string; error: unknown }
  | { type: 'child.done'; id: string }
  | { type: 'child.stopped'; id: string }
  /** A child supervisor gave up (its restart intensity was exceeded). */
  | { type: 'escalated'; child: string; reason: string }
  | { type: 'adopt'; spec: ResolvedChildSpec }
  | { type: 'restart'; id: string; generation: number }
  /** Ask it: answers a {@link SupervisorStatus}. */
  | { type: 'status' };

/** The supervisor machine's context. */
export interface SupervisorContext {
  readonly id: string;
  readonly name: string;
  readonly system: ActorSystem;
  readonly parent: string | undefined;
  readonly parentName: string | undefined;
  readonly strategy: SupervisionStrategy;
  readonly backoff: ResolvedBackoff;
  readonly intensity: RestartIntensity;
  readonly random: () => number;
  readonly signals: SupervisionSignals | undefined;
  readonly table: ChildTable;
  readonly restartsMetric: { inc(): void };
  readonly escalationsMetric: { inc(): void };
}

/** One child as {@link SupervisorStatus} lists it. */
export interface SupervisedChildInfo {
  id: string;
  status: 'running' | 'waiting';
  restart: RestartPolicy;
  from: 'fresh' | 'snapshot';
  restarts: number;
}

/** What a supervisor answers to `status` (children listed up to 1,000). */
export interface SupervisorStatus {
  [key: string]: unknown;
  type: 'supervisor.status';
  id: string;
  name: string;
  state: 'running' | 'escalated' | 'stopped';
  strategy: SupervisionStrategy;
  parent: string | undefined;
  intensity: { maxRestarts: number; withinMs: number; recentRestarts: number };
  childCount: number;
  children: SupervisedChildInfo[];
}

const MAX_LISTED = 1_000;

// ------------------------------------------------------------------ resolving options

/** Validates supervisor options (recursively through child supervisors); throws `INVALID_ARGUMENT` naming the problem. */
export function validateSupervisorOptions(options: SupervisorOptions): void {
  if (options.strategy !== undefined) checkOneOf('strategy', options.strategy, strategies);
  resolveIntensity(options.intensity);
  resolveBackoff(options.backoff);
  const seen = new Set<string>();
  for (const child of options.children ?? []) {
    if (typeof child !== 'object' || child === null) throw new InvalidArgumentError('each child must be an object with an "id"');
    const id = assertToken(child.id, 'child id');
    if (seen.has(id)) throw new InvalidArgumentError(`two children have the id "${id}"`, { details: { id } });
    seen.add(id);
    if (child.restart !== undefined) checkOneOf('restart', child.restart, restartPolicies);
    if ('supervisor' in child) validateSupervisorOptions(child.supervisor);
    else {
      if (typeof child.logic !== 'object' || child.logic === null) throw new InvalidArgumentError(`child "${id}" needs its actor logic ("logic")`, { details: { id } });
      if (child.from !== undefined) checkOneOf('from', child.from, restartFroms);
    }
  }
}

function resolveChild(child: ChildSpec | SupervisorChildSpec, parent: SupervisorInput, random: () => number): ResolvedChildSpec {
  const { id } = child;
  const restart = child.restart ?? 'permanent';
  if ('supervisor' in child) {
    const input: SupervisorInput = { ...child.supervisor, id, system: parent.system, parent: parent.id, parentName: parent.name ?? parent.id, random: child.supervisor.random ?? random };
    if (parent.signals !== undefined) input.signals = parent.signals;
    return { id, logic: supervisorMachine, restart, from: 'fresh', spawn: { id, input, kind: 'supervisor', localOnly: true } };
  }
  const spawn: SpawnOptions = { id };
  if (child.input !== undefined) spawn.input = child.input;
  if (child.kind !== undefined) spawn.kind = child.kind;
  if (child.mailboxCapacity !== undefined) spawn.mailboxCapacity = child.mailboxCapacity;
  if (child.localOnly !== undefined) spawn.localOnly = child.localOnly;
  if (child.snapshot !== undefined) spawn.snapshot = child.snapshot;
  return { id, logic: child.logic, restart, from: child.from ?? 'fresh', spawn };
}

function createContext(input: SupervisorInput): SupervisorContext {
  validateSupervisorOptions(input);
  const { system } = input;
  const name = input.name ?? input.id;
  const random = input.random ?? Math.random;
  const initial = (input.children ?? []).map((c) => resolveChild(c, input, random));
  for (const c of initial) {
    if (system.localActor(c.id) !== undefined) throw new DuplicateActorError(`supervisor "${name}": an actor with id "${c.id}" already exists on this node`, { details: { id: c.id } });
  }
  const table = new ChildTable();
  const now = system.clock.now();
  for (const spec of initial) table.add(new ChildRecord(spec, now, spec.spawn));
  const restarts = system.metrics.counter('hive_supervisor_restarts_total', 'Child actors restarted by supervisors', ['supervisor']);
  const escalations = system.metrics.counter('hive_supervisor_escalations_total', 'Supervisors that exceeded their restart intensity and escalated', ['supervisor']);
  return {
    id: input.id,
    name,
    system,
    parent: input.parent,
    parentName: input.parent === undefined ? undefined : (input.parentName ?? input.parent),
    strategy: input.strategy ?? 'one-for-one',
    backoff: resolveBackoff(input.backoff),
    intensity: new RestartIntensity(input.intensity ?? {}, system.clock),
    random,
    signals: input.signals,
    table,
    restartsMetric: restarts.labels(name),
    escalationsMetric: escalations.labels(name),
  };
}

// ------------------------------------------------------------------ effects on the actor system

function childOf(event: SupervisorMessage): string {
  return event.type === 'escalated' ? event.child : 'id' in event ? event.id : '';
}

function reasonOf(event: SupervisorMessage): TerminationReason {
  return event.type === 'child.done' ? 'done' : event.type === 'escalated' ? 'escalated' : 'failed';
}

/** Stops a child on the supervisor's own behalf (its `stopped` event is not taken for an external stop). */
function stopOwn(ctx: SupervisorContext, id: string): void {
  ctx.table.selfStopping = id;
  try {
    void ctx.system.stopActor(id).catch((err: unknown) => ctx.system.logger.warn({ err, supervisor: ctx.name, child: id }, 'could not stop a child'));
  } finally {
    ctx.table.selfStopping = undefined;
  }
}

function cancelTimer(ctx: SupervisorContext, rec: ChildRecord): void {
  if (rec.timer !== undefined) ctx.system.clock.clearTimeout(rec.timer);
  rec.timer = undefined;
}

/** Stops every child, newest first, cancels pending restarts and empties the table. Returns the ids in start order. */
function stopAll(ctx: SupervisorContext): string[] {
  const records = ctx.table.clear();
  for (let i = records.length - 1; i >= 0; i--) {
    const rec = records[i];
    cancelTimer(ctx, rec);
    if (ctx.system.localActor(rec.id) !== undefined) stopOwn(ctx, rec.id);
  }
  return records.map((r) => r.id);
}

/** For `from: 'snapshot'` children: keeps the last good snapshot, by reference. */
function watch(ctx: SupervisorContext, rec: ChildRecord): void {
  if (rec.spec.from !== 'snapshot') return;
  const actor = ctx.system.localActor(rec.id);
  if (actor === undefined) return;
  rec.last = actor.getSnapshot() as Snapshot<unknown>;
  actor.subscribe({
    next: (snapshot: Snapshot<unknown>) => {
      if (snapshot.status === 'active') rec.last = snapshot;
    },
    // the runtime reports failures; an observer without an error handler would make xstate rethrow globally
    error: () => undefined,
  });
}

function dropChild(ctx: SupervisorContext, rec: ChildRecord, reason: 'stopped' | 'not-restarted' | 'conflict' | 'spawn-error'): void {
  cancelTimer(ctx, rec);
  ctx.table.delete(rec.id);
  ctx.signals?.emit({ type: 'removed', supervisor: ctx.name, child: rec.id, reason });
}

function scheduleRestart(ctx: SupervisorContext, self: AnyActorRef, rec: ChildRecord, delayMs: number, reason: TerminationReason | 'sibling'): void {
  cancelTimer(ctx, rec);
  rec.status = 'waiting';
  const generation = ++rec.generation;
  rec.timer = ctx.system.clock.setTimeout(() => {
    rec.timer = undefined;
    self.send({ type: 'restart', id: rec.id, generation } satisfies SupervisorMessage);
  }, delayMs);
  ctx.signals?.emit({ type: 'restarting', supervisor: ctx.name, child: rec.id, reason, delayMs });
}

/** Describes a supervisor from its machine snapshot (undefined: it is not running). */
export function describeSupervisor(snapshot: { value: unknown; context: SupervisorContext; status: string } | undefined, fallback: { id: string; name: string }): SupervisorStatus {
  if (snapshot === undefined || snapshot.status !== 'active') {
    return {
      type: 'supervisor.status',
      id: fallback.id,
      name: fallback.name,
      state: 'stopped',
      strategy: snapshot?.context.strategy ?? 'one-for-one',
      parent: snapshot?.context.parent,
      intensity: { maxRestarts: snapshot?.context.intensity.maxRestarts ?? 0, withinMs: snapshot?.context.intensity.withinMs ?? 0, recentRestarts: 0 },
      childCount: 0,
      children: [],
    };
  }
  const ctx = snapshot.context;
  const children: SupervisedChildInfo[] = [];
  for (const rec of ctx.table.values()) {
    if (children.length >= MAX_LISTED) break;
    children.push({ id: rec.id, status: rec.status, restart: rec.spec.restart, from: rec.spec.from, restarts: rec.restarts });
  }
  return {
    type: 'supervisor.status',
    id: ctx.id,
    name: ctx.name,
    state: snapshot.value === 'escalated' ? 'escalated' : 'running',
    strategy: ctx.strategy,
    parent: ctx.parent,
    intensity: { maxRestarts: ctx.intensity.maxRestarts, withinMs: ctx.intensity.withinMs, recentRestarts: ctx.intensity.count() },
    childCount: ctx.table.size,
    children,
  };
}

// ------------------------------------------------------------------ the child host (an invoked callback)

/** Spawns a child whose record is ready (`pendingSpawn` set); a failure to start is reported by the runtime. */
function spawnChild(ctx: SupervisorContext, rec: ChildRecord, initial: boolean): void {
  const options = rec.pendingSpawn;
  if (options === undefined || ctx.table.get(rec.id) !== rec) return;
  rec.pendingSpawn = undefined;
  const { system } = ctx;
  try {
    system.spawn(rec.spec.logic, options);
  } catch (err) {
    // Failed (or finished) while starting: the runtime has already reported it with a lifecycle event,
    // which this supervisor handles next like any failure (counted, backed off, escalated in the end).
    if (toHiveError(err).code === 'ACTOR_FAILED') return;
    system.logger.error({ err, supervisor: ctx.name, child: rec.id }, 'could not start child; no longer supervised');
    dropChild(ctx, rec, 'spawn-error');
    return;
  }
  watch(ctx, rec);
  if (initial) return;
  const from = options.snapshot !== undefined && options.snapshot !== rec.spec.spawn.snapshot ? 'snapshot' : 'fresh';
  ctx.restartsMetric.inc();
  ctx.signals?.emit({ type: 'restarted', supervisor: ctx.name, child: rec.id, from, restarts: rec.restarts });
  system.logger.info({ supervisor: ctx.name, child: rec.id, from, restarts: rec.restarts }, 'child restarted');
}

/** What the machine asks its child host to do. */
type HostCommand = { type: 'spawn'; id: string };

/**
 * The supervisor's hands on the actor system: starts the initial children, spawns restarted ones on
 * command, and forwards the lifecycle events of the children to the supervisor (synchronously, so it acts
 * before anything else happens to them). Stopping the supervisor stops its children; so does a failure of
 * the supervisor itself (xstate does not stop the invoked actors of a machine that throws, so the host
 * watches its owner too).
 */
const childHost = fromCallback<HostCommand, { ctx: SupervisorContext }>(({ input, sendBack, receive }) => {
  const { ctx } = input;
  let done = false;
  const shutdown = (): void => {
    if (done) return;
    done = true;
    off();
    stopAll(ctx);
  };
  const off = ctx.system.onLifecycle((e) => {
    if (e.id === ctx.id) {
      if (e.type === 'failed') shutdown();
      return;
    }
    if (!ctx.table.has(e.id)) return;
    if (e.type === 'failed') sendBack({ type: 'child.failed', id: e.id, error: e.error } satisfies SupervisorMessage);
    else if (e.type === 'done') sendBack({ type: 'child.done', id: e.id } satisfies SupervisorMessage);
    else if (e.type === 'stopped' && ctx.table.selfStopping !== e.id) sendBack({ type: 'child.stopped', id: e.id } satisfies SupervisorMessage);
  });
  receive((cmd) => {
    const rec = ctx.table.get(cmd.id);
    if (rec !== undefined) spawnChild(ctx, rec, false);
  });
  for (const rec of [...ctx.table.values()]) spawnChild(ctx, rec, true);
  return shutdown;
});

// ------------------------------------------------------------------ the machine

/** The supervisor machine. Spawn it with a {@link SupervisorInput} (or use `Supervisor` / `hive.supervisor`). */
export const supervisorMachine = setup({
  types: {
    context: {} as SupervisorContext,
    events: {} as SupervisorMessage,
    input: {} as SupervisorInput,
  },
  actors: { childHost },
  guards: {
    isLive: ({ context, event }) => context.table.get(childOf(event))?.status === 'running',
    isKnown: ({ context, event }) => context.table.has(childOf(event)),
    wantsRestart: ({ context, event }) => {
      const rec = context.table.get(childOf(event));
      return rec !== undefined && wantsRestart(rec.spec.restart, reasonOf(event));
    },
    intensityExceeded: ({ context }) => context.intensity.wouldExceed(),
    hasParent: ({ context }) => context.parent !== undefined,
    isDue: ({ context, event }) => {
      if (event.type !== 'restart') return false;
      const rec = context.table.get(event.id);
      return rec !== undefined && rec.status === 'waiting' && rec.generation === event.generation;
    },
  },
  actions: {
    /** Supervises a child the caller has just spawned. */
    adopt: ({ context: ctx, event }) => {
      if (event.type !== 'adopt') return;
      const old = ctx.table.get(event.spec.id);
      if (old !== undefined) dropChild(ctx, old, 'conflict');
      const rec = new ChildRecord(event.spec, ctx.system.clock.now(), undefined);
      ctx.table.add(rec);
      watch(ctx, rec);
    },

    /** A child stopped from outside (`ref.stop()`): never restarted. */
    forgetStopped: ({ context: ctx, event }) => {
      const rec = ctx.table.get(childOf(event));
      if (rec !== undefined) dropChild(ctx, rec, 'stopped');
    },

    /** A child terminated and its policy does not want it back: free its id. */
    release: ({ context: ctx, event }) => {
      const rec = ctx.table.get(childOf(event));
      if (rec === undefined) return;
      dropChild(ctx, rec, 'not-restarted');
      if (event.type === 'escalated') stopOwn(ctx, rec.id);
      else ctx.system.forget(rec.id);
      ctx.system.logger.info({ supervisor: ctx.name, child: rec.id, policy: rec.spec.restart, reason: reasonOf(event) }, 'child not restarted (restart policy)');
    },

    /** Counts the restart, stops the siblings the strategy takes down, and schedules their restarts after the backoff delay. */
    restartPerStrategy: ({ context: ctx, event, self }) => {
      const id = childOf(event);
      const reason = reasonOf(event);
      const failed = ctx.table.get(id)!;
      const now = ctx.system.clock.now();
      ctx.intensity.record(now);
      const backoff = (failed.backoff ??= new Backoff(ctx.backoff, ctx.random));
      if (now - failed.startedAt >= ctx.backoff.resetAfterMs) backoff.reset();
      const delayMs = backoff.next();
      if (reason === 'done') failed.nextFresh = true;
      const set = restartSet(ctx.strategy, ctx.table.ids(), id).map((i) => ctx.table.get(i)!);
      // take the siblings down newest first (as Erlang does); temporary ones do not come back
      for (let i = set.length - 1; i >= 0; i--) {
        const rec = set[i];
        if (rec === failed) continue;
        if (rec.status === 'running') stopOwn(ctx, rec.id);
        else cancelTimer(ctx, rec);
        if (rec.spec.restart === 'temporary') dropChild(ctx, rec, 'not-restarted');
      }
      // a child supervisor that escalated is still up (idle, its children stopped): take it down too
      if (reason === 'escalated') stopOwn(ctx, id);
      ctx.system.logger.warn(
        { supervisor: ctx.name, child: id, reason, strategy: ctx.strategy, restarting: set.length, delayMs, err: event.type === 'child.failed' ? event.error : undefined },
        'supervisor restarting child',
      );
      for (const rec of set) if (ctx.table.has(rec.id)) scheduleRestart(ctx, self, rec, delayMs, rec === failed ? reason : 'sibling');
    },

    /** The restart delay is over: prepare the child's spawn (from fresh or from its last snapshot); `spawnRestarted` performs it. */
    prepareRestart: ({ context: ctx, event }) => {
      if (event.type !== 'restart') return;
      const rec = ctx.table.get(event.id)!;
      rec.timer = undefined;
      const { system } = ctx;
      if (system.has(rec.id)) {
        system.logger.warn({ supervisor: ctx.name, child: rec.id }, 'another actor took the id of a child waiting for its restart; no longer supervised');
        dropChild(ctx, rec, 'conflict');
        return;
      }
      system.forget(rec.id); // the failed cell (asks got ACTOR_FAILED while it waited)
      const fromSnapshot = rec.spec.from === 'snapshot' && !rec.nextFresh && rec.last !== undefined;
      rec.pendingSpawn = fromSnapshot ? { ...rec.spec.spawn, snapshot: rec.spec.logic.getPersistedSnapshot(rec.last!) } : rec.spec.spawn;
      if (!fromSnapshot) rec.last = undefined;
      rec.status = 'running';
      rec.nextFresh = false;
      rec.startedAt = system.clock.now();
      rec.restarts++;
    },

    spawnRestarted: sendTo('host', ({ event }) => ({ type: 'spawn', id: event.type === 'restart' ? event.id : '' }) satisfies HostCommand),

    /** Too many restarts: stop every child and tell the parent (or, at the root, log, count and signal). */
    escalate: ({ context: ctx, event }) => {
      const id = childOf(event);
      const stopped = stopAll(ctx);
      ctx.intensity.reset();
      ctx.escalationsMetric.inc();
      const reason = `more than ${ctx.intensity.maxRestarts} restarts in ${ctx.intensity.withinMs} ms (last: child "${id}" ${reasonOf(event)})`;
      ctx.signals?.emit({ type: 'escalated', supervisor: ctx.name, parent: ctx.parentName, reason, children: stopped });
      if (ctx.parent === undefined) {
        ctx.system.logger.error({ supervisor: ctx.name, children: stopped.length, child: id }, `root supervisor gave up: ${reason}; its children stay stopped`);
        return;
      }
      ctx.system.logger.warn({ supervisor: ctx.name, parent: ctx.parent, children: stopped.length, child: id }, `supervisor escalates: ${reason}`);
      const parent = ctx.system.localActor(ctx.parent);
      if (parent === undefined) ctx.system.logger.error({ supervisor: ctx.name, parent: ctx.parent }, 'escalation lost: the parent supervisor is not running');
      else parent.send({ type: 'escalated', child: ctx.id, reason } satisfies SupervisorMessage);
    },

    replyStatus: ({ context, event, self }) => {
      const snap = self.getSnapshot() as { value: unknown; status: string };
      reply(event, describeSupervisor({ value: snap.value, status: snap.status, context }, context));
    },
  },
}).createMachine({
  id: 'supervisor',
  context: ({ input }) => createContext(input),
  invoke: { id: 'host', src: 'childHost', input: ({ context }) => ({ ctx: context }) },
  initial: 'running',
  on: { status: { actions: 'replyStatus' } },
  states: {
    running: {
      on: {
        'child.failed': terminated(),
        'child.done': terminated(),
        escalated: terminated(),
        'child.stopped': { guard: 'isKnown', actions: 'forgetStopped' },
        adopt: { actions: 'adopt' },
        restart: { guard: 'isDue', actions: ['prepareRestart', 'spawnRestarted'] },
      },
    },
    /** Gave up: children stopped; waits for the parent to restart or stop it. */
    escalated: {},
  },
});

/** What a child's termination leads to, first match wins. */
function terminated() {
  return [
    // not a live child (already waiting, or stopped by this supervisor): nothing to do
    { guard: not('isLive') },
    { guard: not('wantsRestart'), actions: 'release' },
    { guard: and(['intensityExceeded', 'hasParent']), target: '#supervisor.escalated', actions: 'escalate' },
    { guard: 'intensityExceeded', actions: 'escalate' },
    { actions: 'restartPerStrategy' },
  ] as const;
}
