// Supervisor: the handle on a supervisor actor (the supervisor machine running in a node's ActorSystem).
// Creates root and named supervisors, spawns actors under one, builds trees, reads status, stops.
import type { AnyActorLogic, AnyActorRef } from 'xstate';
import type { ActorRef } from '../../runtime/ActorRef.js';
import type { ActorSystem, SpawnOptions } from '../../runtime/ActorSystem.js';
import { UnavailableError } from '../../protocols/errors.js';
import { assertToken } from '../../protocols/subjects.js';
import type { ResolvedChildSpec } from './ChildTable.js';
import { SupervisionSignals, type SupervisionEvent } from './signals.js';
import { checkOneOf, restartFroms, restartPolicies, type RestartFrom, type RestartPolicy } from './strategy.js';
import {
  describeSupervisor,
  supervisorMachine,
  validateSupervisorOptions,
  type SupervisorContext,
  type SupervisorInput,
  type SupervisorMessage,
  type SupervisorOptions,
  type SupervisorStatus,
} from './supervisorMachine.js';

/** How a spawned actor is supervised. */
export interface ChildSupervision {
  /** Default `permanent`: restarted after a failure (and after reaching a final state); never after `ref.stop()`. */
  restart?: RestartPolicy;
  /** Default `fresh`: restarted from its input; `snapshot`: from its last good snapshot. */
  from?: RestartFrom;
}

/** Spawn options plus how the actor is supervised. */
export interface SupervisedSpawnOptions extends SpawnOptions {
  supervision?: ChildSupervision;
}

/** Options of a supervisor created under another one (`hive.supervisor(name, options)`). */
export interface NamedSupervisorOptions extends SupervisorOptions {
  /** Its restart policy under its parent. Default `permanent`. A supervisor always restarts fresh. */
  restart?: RestartPolicy;
}

/** Options of a node's root supervisor. */
export interface RootSupervisorOptions extends SupervisorOptions {
  /** Where supervision events of the whole tree go (default: a new listener set). */
  signals?: SupervisionSignals;
}

/** The actor id of a node's root supervisor (local only: each node has its own). */
export const ROOT_SUPERVISOR_ID = '_root-supervisor';

/** A handle on a supervisor actor. Cheap; reads the live actor on each call, so it survives restarts of the supervisor. */
export class Supervisor {
  private constructor(
    /** The actor system the supervisor and its children live in. */
    readonly system: ActorSystem,
    /** The supervisor's actor id. */
    readonly id: string,
    /** Its label in metrics, logs and signals. */
    readonly name: string,
    /** Supervision events of the tree this supervisor belongs to. */
    readonly signals: SupervisionSignals,
    /** For a root supervisor: how to start it again should its own machine ever fail. */
    private readonly restartSelf: (() => void) | undefined,
  ) {}

  /**
   * Starts a node's root supervisor (one-for-one, 10 restarts in 60 s, backoff 10 ms → 5 s by default).
   * It has no parent: when its intensity is exceeded it stops its children, logs at error level, counts
   * `hive_supervisor_escalations_total{supervisor="root"}`, signals `escalated`, and keeps supervising new children.
   */
  static root(system: ActorSystem, options: RootSupervisorOptions = {}): Supervisor {
    const { signals = new SupervisionSignals(), ...rest } = options;
    validateSupervisorOptions(rest);
    const input: SupervisorInput = { ...rest, id: ROOT_SUPERVISOR_ID, name: 'root', system, signals };
    const start = (): void => {
      system.forget(ROOT_SUPERVISOR_ID);
      system.spawn(supervisorMachine, { id: ROOT_SUPERVISOR_ID, kind: 'supervisor', localOnly: true, input });
    };
    start();
    return new Supervisor(system, ROOT_SUPERVISOR_ID, 'root', signals, start);
  }

  /**
   * Starts a supervisor with no parent under `id` (a tree's top; `hive.supervisor` creates named supervisors
   * under the node's root instead). Throws `INVALID_ARGUMENT` for bad options, `DUPLICATE_ACTOR` for a taken id.
   */
  static start(system: ActorSystem, id: string, options: RootSupervisorOptions = {}): Supervisor {
    const { signals = new SupervisionSignals(), ...rest } = options;
    assertToken(id, 'supervisor id');
    validateSupervisorOptions(rest);
    system.spawn(supervisorMachine, { id, kind: 'supervisor', localOnly: true, input: { ...rest, id, system, signals } });
    return new Supervisor(system, id, id, signals, undefined);
  }

  /** A ref to the supervisor actor (ask it `{ type: 'status' }`). */
  get ref(): ActorRef {
    return this.system.ref(this.id);
  }

  /** True while the supervisor runs and supervises (not stopped, not escalated). */
  get running(): boolean {
    const snap = this.snapshot();
    return snap !== undefined && snap.status === 'active' && snap.value === 'running';
  }

  /**
   * Spawns `logic` as an actor supervised by this supervisor (default: `permanent`, `fresh`).
   * Throws what `spawn` throws (`INVALID_ID`, `DUPLICATE_ACTOR`, `ACTOR_FAILED` when it fails to start),
   * `INVALID_ARGUMENT` for a bad supervision option, and `UNAVAILABLE` when this supervisor has escalated or stopped.
   */
  supervise(logic: AnyActorLogic, options: SupervisedSpawnOptions = {}): ActorRef {
    const { supervision, ...spawnOptions } = options;
    const restart = checkOneOf('supervision.restart', supervision?.restart ?? 'permanent', restartPolicies);
    const from = checkOneOf('supervision.from', supervision?.from ?? 'fresh', restartFroms);
    const actor = this.live();
    const ref = this.system.spawn(logic, spawnOptions);
    const spec: ResolvedChildSpec = { id: ref.id, logic, restart, from, spawn: { ...spawnOptions, id: ref.id } };
    actor.send({ type: 'adopt', spec } satisfies SupervisorMessage);
    return ref;
  }

  /**
   * Starts a supervisor named `name` (its actor id, local to this node) under this one, with its children.
   * When it escalates, this supervisor applies its own strategy to it (a restart starts it, and its
   * children, afresh). Children added later with `supervise` are not part of its spec: they are not
   * started again when the supervisor itself is restarted (Erlang's dynamic children).
   */
  supervisor(name: string, options: NamedSupervisorOptions = {}): Supervisor {
    const { restart, ...rest } = options;
    assertToken(name, 'supervisor name');
    validateSupervisorOptions(rest);
    const input: SupervisorInput = { ...rest, id: name, system: this.system, parent: this.id, parentName: this.name, signals: this.signals };
    const parentRandom = this.snapshot()?.context.random;
    if (input.random === undefined && parentRandom !== undefined) input.random = parentRandom;
    const supervision: ChildSupervision = { from: 'fresh' };
    if (restart !== undefined) supervision.restart = restart;
    this.supervise(supervisorMachine, { id: name, kind: 'supervisor', localOnly: true, input, supervision });
    return new Supervisor(this.system, name, name, this.signals, undefined);
  }

  /** What the supervisor supervises right now. */
  status(): SupervisorStatus {
    return describeSupervisor(this.snapshot(), { id: this.id, name: this.name });
  }

  /** Listens to this supervisor's events (restarts, removals, escalations); returns an unsubscribe function. */
  onEvent(listener: (e: SupervisionEvent) => void): () => void {
    return this.signals.subscribe((e) => {
      if (e.supervisor === this.name) listener(e);
    });
  }

  /** Stops the supervisor and, first, its children (newest first). Its parent does not restart it. */
  stop(): Promise<void> {
    return this.system.stopActor(this.id);
  }

  private snapshot(): { value: unknown; status: string; context: SupervisorContext } | undefined {
    return this.system.localActor(this.id)?.getSnapshot() as { value: unknown; status: string; context: SupervisorContext } | undefined;
  }

  /** The running supervisor actor; a root supervisor whose own machine failed is started again first. */
  private live(): AnyActorRef {
    let snap = this.snapshot();
    if ((snap === undefined || snap.status !== 'active') && this.restartSelf !== undefined) {
      this.system.logger.error({ supervisor: this.name }, 'root supervisor was down; starting it again');
      this.restartSelf();
      snap = this.snapshot();
    }
    if (snap === undefined || snap.status !== 'active') throw new UnavailableError(`supervisor "${this.name}" is not running`, { details: { id: this.id } });
    if (snap.value !== 'running') throw new UnavailableError(`supervisor "${this.name}" has escalated and waits for its parent`, { details: { id: this.id } });
    return this.system.localActor(this.id)!;
  }
}
