// Node control over `hive.<cluster>.sys.>`: every node answers `sys.status` with what it runs, and spawns
// registered kinds on request at `sys.node.<nodeId>.spawn`. JSON in, JSON out, so the NATS CLI can use them.
// Served through the node's transit (decoding, deadline, cancels, traces and the answer path, as every subject).
import type { HiveEvent } from '../protocols/envelope.js';
import { InvalidArgumentError, NoSuchActorError } from '../protocols/errors.js';
import { sysSubject } from '../protocols/subjects.js';
import type { AnyActorLogic } from 'xstate';
import type { ActorInfo, ActorSystem, SpawnOptions } from '../runtime/ActorSystem.js';
import type { InboundRequest } from '../runtime/Transit.js';
import type { Transport, TransportSubscription } from '../runtime/Transport.js';
import type { VirtualActors } from './VirtualActors.js';

/** Actors listed per node in a status answer (the count is always exact). */
const MAX_LISTED = 1000;

/** What a node answers to `sys.status`. */
export interface NodeStatus {
  type: 'hive.node.status';
  node: string;
  cluster: string;
  startedAt: number;
  uptimeMs: number;
  pid: number;
  transport: string;
  kinds: string[];
  actorCount: number;
  actors: ActorInfo[];
  /** True when `actors` lists only the first {@link MAX_LISTED}. */
  truncated: boolean;
  memory: { rssBytes: number; heapUsedBytes: number };
  deadLetters: number;
  /** Extra sections other components add (pools, memory, breakers). */
  extra?: Record<string, unknown>;
}

/** A spawn request at `sys.node.<nodeId>.spawn`. */
export interface SpawnRequest {
  type?: string;
  kind: string;
  id: string;
  input?: unknown;
}

/** Answers status and spawn requests for one node. */
export class NodeControl {
  private subs: TransportSubscription[] = [];
  private readonly extras = new Map<string, () => unknown>();

  constructor(
    private readonly deps: {
      system: ActorSystem;
      transport: Transport;
      virtual: VirtualActors;
      startedAt: number;
      /** Spawns under the node's root supervisor (default: unsupervised, straight on the actor system). */
      spawn?: (logic: AnyActorLogic, options: SpawnOptions) => unknown;
    },
  ) {}

  /** Adds a named section to this node's status answer. */
  addStatusSection(name: string, read: () => unknown): void {
    this.extras.set(name, read);
  }

  start(): void {
    const { system } = this.deps;
    const c = system.config.cluster;
    // the body of a control request is a command, not an event (status takes any body, even none)
    const options = { jsonBody: (body: unknown): HiveEvent => ({ type: 'hive.control', body }) };
    const status = (req: InboundRequest): void => {
      if (req.isAsk) req.ok(this.status() as unknown as HiveEvent);
    };
    this.subs.push(system.transit.serve(sysSubject(c, 'status'), status, options));
    this.subs.push(system.transit.serve(sysSubject(c, 'node', system.config.nodeId, 'status'), status, options));
    this.subs.push(system.transit.serve(sysSubject(c, 'node', system.config.nodeId, 'spawn'), (req) => req.isAsk && req.ok(this.spawn(req.event['body'])), options));
  }

  /** This node's status. */
  status(): NodeStatus {
    const { system, virtual, startedAt } = this.deps;
    const all = system.actors();
    const mem = process.memoryUsage();
    const status: NodeStatus = {
      type: 'hive.node.status',
      node: system.config.nodeId,
      cluster: system.config.cluster,
      startedAt,
      uptimeMs: system.clock.now() - startedAt,
      pid: process.pid,
      transport: this.deps.transport.description,
      kinds: virtual.registeredKinds(),
      actorCount: all.length,
      // virtual actors are listed as users name them: <kind>/<key>
      actors: all.slice(0, MAX_LISTED).map((a) => {
        const name = virtual.nameOf(a.id);
        return name === undefined ? a : { ...a, id: name };
      }),
      truncated: all.length > MAX_LISTED,
      memory: { rssBytes: mem.rss, heapUsedBytes: mem.heapUsed },
      deadLetters: system.deadLetters.count,
    };
    if (this.extras.size > 0) {
      status.extra = {};
      for (const [name, read] of this.extras) status.extra[name] = read();
    }
    return status;
  }

  private spawn(body: unknown): HiveEvent {
    const req = body as Partial<SpawnRequest> | null | undefined;
    if (typeof req !== 'object' || req === null || typeof req.kind !== 'string') throw new InvalidArgumentError('a spawn request needs a string "kind"');
    if (typeof req.id !== 'string') throw new InvalidArgumentError('a spawn request needs a string "id"');
    const logic = this.deps.virtual.logicOf(req.kind);
    if (logic === undefined) {
      throw new NoSuchActorError(`kind "${req.kind}" is not registered on node "${this.deps.system.config.nodeId}" (registered: ${this.deps.virtual.registeredKinds().join(', ') || 'none'})`, {
        details: { kind: req.kind },
      });
    }
    const options: SpawnOptions = req.input === undefined ? { id: req.id, kind: req.kind } : { id: req.id, kind: req.kind, input: req.input };
    if (this.deps.spawn !== undefined) this.deps.spawn(logic, options);
    else this.deps.system.spawn(logic, options);
    return { type: 'hive.spawned', id: req.id, kind: req.kind, node: this.deps.system.config.nodeId };
  }

  stop(): void {
    for (const s of this.subs) s.unsubscribe();
    this.subs = [];
  }
}
