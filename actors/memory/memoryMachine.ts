// The memory actor: an xstate machine that owns memory's lifecycle and calls the MemoryParts for I/O.
// - `live.store`: `opening` (the first open: requests wait in the actor), `ready`, `degraded` (the database
//   is down or its breaker open; requests still try it, through the breaker, and a success makes it ready).
// - `live.index`: builds the HNSW index once the store holds `indexAfterDocs` documents and ingestion has
//   been quiet for `indexIdleMs` with nothing queued: `waiting` (for the store), `counting`, `pending`,
//   `quiet`, `checking`, `indexing`, `indexed`, `failed` (tried again after the next commit), `off`.
// - `closing`: stops committing and answers what waits; then `closed`.
// At most `concurrency` requests run at once; the next `maxQueued` wait in the actor, in order, and beyond
// that a request is answered OVERLOADED at once (back-pressure). Internal events are `hive.memory.*`, which
// the wire refuses.
import { assign, fromCallback, fromPromise, setup, stateIn, type AnyActorRef } from 'xstate';
import type { HiveEvent } from '../../protocols/envelope.js';
import { OverloadedError, UnavailableError } from '../../protocols/errors.js';
import { reply, replyError } from '../../runtime/reply.js';
import type { MemoryParts } from './MemoryParts.js';

/** The memory actor's input. */
export interface MemoryMachineInput {
  parts: MemoryParts;
  /** Requests running at once (default 64). */
  concurrency?: number;
  /** Requests waiting beyond those (default 1,024); more are answered OVERLOADED. */
  maxQueued?: number;
  /** Build the HNSW index once the store holds this many documents (default 10,000); false: never from here. */
  indexAfterDocs?: number | false;
  /** Quiet time after the last commit (and the open) before the index is built (default 1.5 x ack wait, at least 1 s). */
  indexIdleMs?: number;
}

/** The memory actor's context. */
export interface MemoryMachineContext {
  parts: MemoryParts;
  concurrency: number;
  maxQueued: number;
  indexAfterDocs: number | false;
  indexIdleMs: number;
  /** Requests taken (answered, running or waiting). */
  requests: number;
  running: number;
  waiting: HiveEvent[];
  /** Documents the store holds, about (counted once open, then by commits). */
  storedDocs: number;
  /** When the last commit stored documents, or the store opened (epoch ms). */
  quietSince: number;
  /** The `hive.memory.close` ask, answered once closed. */
  closeRequest: HiveEvent | undefined;
}

type InternalEvent =
  | { type: 'hive.memory.done' }
  | { type: 'hive.memory.health'; ok: boolean }
  | { type: 'hive.memory.committed'; inserted: number }
  | { type: 'hive.memory.close' };

/** Runs one request and tells the machine when it settled. */
function run(parts: MemoryParts, event: HiveEvent, self: AnyActorRef): void {
  parts
    .handle(event)
    .then(
      (answer) => reply(event, answer as unknown as HiveEvent),
      (err: unknown) => replyError(event, err),
    )
    .finally(() => self.send({ type: 'hive.memory.done' }));
}

/** Forwards the parts' health reports and commits to the machine. */
const signals = fromCallback<InternalEvent, { parts: MemoryParts }>(({ sendBack, input }) => {
  const offHealth = input.parts.db.onHealth((h) => sendBack({ type: 'hive.memory.health', ok: h === 'ok' }));
  const offCommit = input.parts.onCommitted((inserted) => sendBack({ type: 'hive.memory.committed', inserted }));
  return () => {
    offHealth();
    offCommit();
  };
});

/**
 * The memory machine. Spawn it with `{ input: { parts } }` (a node with memory does: actor id
 * `memory-<nodeId>`). Answers: `memory.ingested` / `memory.queued`, `memory.results`, `memory.deleted`,
 * `memory.stats`, or a typed error.
 */
export const memoryMachine = setup({
  types: { context: {} as MemoryMachineContext, input: {} as MemoryMachineInput, events: {} as HiveEvent | InternalEvent },
  actors: {
    signals,
    open: fromPromise<void, { parts: MemoryParts }>(({ input }) => input.parts.open()),
    count: fromPromise<number, { parts: MemoryParts }>(async ({ input }) => (await input.parts.db.guard(() => input.parts.store.stats())).documents),
    busy: fromPromise<boolean, { parts: MemoryParts }>(async ({ input }) => {
      if (input.parts.committer.committing > 0) return true;
      return (await input.parts.committer.depth().catch(() => 0)) > 0;
    }),
    buildIndex: fromPromise<void, { parts: MemoryParts }>(async ({ input }) => {
      const { parts } = input;
      const started = performance.now();
      parts.logger.info('building the HNSW index of memory');
      await parts.db.guard(() => parts.store.ensureIndex());
      parts.logger.info({ ms: Math.round(performance.now() - started) }, 'memory HNSW index ready');
    }),
    close: fromPromise<void, { parts: MemoryParts }>(({ input }) => input.parts.close()),
  },
  actions: {
    /** Runs the request now, queues it, or answers OVERLOADED. */
    admit: assign(({ context, event, self }, params: { opening: boolean }) => {
      const e = event;
      if (!params.opening && context.running < context.concurrency) {
        run(context.parts, e, self);
        return { running: context.running + 1, requests: context.requests + 1 };
      }
      if (context.waiting.length < context.maxQueued) return { waiting: [...context.waiting, e], requests: context.requests + 1 };
      replyError(e, new OverloadedError(`memory is busy: ${context.running} requests running and ${context.waiting.length} waiting`, { details: { running: context.running, waiting: context.waiting.length } }));
      return {};
    }),
    /** Starts waiting requests while there is room. */
    drain: assign(({ context, self }, params: { finished: boolean }) => {
      let running = context.running - (params.finished ? 1 : 0);
      const waiting = [...context.waiting];
      while (running < context.concurrency && waiting.length > 0) {
        run(context.parts, waiting.shift()!, self);
        running++;
      }
      return { running, waiting };
    }),
    refuseWaiting: assign(({ context }) => {
      const closed = new UnavailableError('memory is closing', { retryable: true });
      for (const e of context.waiting) replyError(e, closed);
      return { waiting: [] };
    }),
    refuse: ({ event }) => replyError(event, new UnavailableError('memory is closing', { retryable: true })),
    committed: assign(({ context, event }) => ({
      storedDocs: context.storedDocs + (event as { inserted: number }).inserted,
      quietSince: context.parts.clock.now(),
    })),
    opened: assign(({ context }) => ({ quietSince: Math.max(context.quietSince, context.parts.clock.now()) })),
  },
  guards: {
    healthy: ({ event }) => (event as { ok?: boolean }).ok === true,
    unhealthy: ({ event }) => (event as { ok?: boolean }).ok === false,
    indexOff: ({ context }) => context.indexAfterDocs === false,
    enoughDocs: ({ context }) => context.indexAfterDocs !== false && context.storedDocs >= context.indexAfterDocs,
    busy: ({ event }) => (event as unknown as { output: boolean }).output,
  },
  delays: {
    quiet: ({ context }) => Math.max(10, context.indexIdleMs - (context.parts.clock.now() - context.quietSince)),
  },
}).createMachine({
  id: 'memory',
  context: ({ input }) => ({
    parts: input.parts,
    concurrency: input.concurrency ?? 64,
    maxQueued: input.maxQueued ?? 1024,
    indexAfterDocs: input.indexAfterDocs ?? 10_000,
    indexIdleMs: input.indexIdleMs ?? Math.max(1000, Math.round(input.parts.ackWaitMs * 1.5)),
    requests: 0,
    running: 0,
    waiting: [],
    storedDocs: 0,
    quietSince: 0,
    closeRequest: undefined,
  }),
  initial: 'live',
  states: {
    live: {
      type: 'parallel',
      invoke: { src: 'signals', input: ({ context }) => ({ parts: context.parts }) },
      on: {
        'memory.ingest': [{ guard: stateIn({ live: { store: 'opening' } }), actions: { type: 'admit', params: { opening: true } } }, { actions: { type: 'admit', params: { opening: false } } }],
        'memory.search': [{ guard: stateIn({ live: { store: 'opening' } }), actions: { type: 'admit', params: { opening: true } } }, { actions: { type: 'admit', params: { opening: false } } }],
        'memory.delete': [{ guard: stateIn({ live: { store: 'opening' } }), actions: { type: 'admit', params: { opening: true } } }, { actions: { type: 'admit', params: { opening: false } } }],
        'memory.stats': [{ guard: stateIn({ live: { store: 'opening' } }), actions: { type: 'admit', params: { opening: true } } }, { actions: { type: 'admit', params: { opening: false } } }],
        'hive.memory.done': { actions: { type: 'drain', params: { finished: true } } },
        'hive.memory.committed': { actions: 'committed' },
        'hive.memory.close': { target: 'closing', actions: [assign({ closeRequest: ({ event }) => event }), 'refuseWaiting'] },
      },
      states: {
        store: {
          initial: 'opening',
          states: {
            /** The store's first open (PGlite's first open of a new folder takes seconds): requests wait. */
            opening: {
              invoke: {
                src: 'open',
                input: ({ context }) => ({ parts: context.parts }),
                onDone: { target: 'ready', actions: ['opened', { type: 'drain', params: { finished: false } }] },
                onError: {
                  target: 'degraded',
                  actions: [
                    ({ context, event }) => context.parts.logger.warn({ err: event.error }, 'memory store could not open; retrying on use'),
                    { type: 'drain', params: { finished: false } },
                  ],
                },
              },
            },
            /** The store answers. */
            ready: { on: { 'hive.memory.health': { guard: 'unhealthy', target: 'degraded' } } },
            /** The database is down or its breaker open: requests still try it, through the breaker. */
            degraded: { on: { 'hive.memory.health': { guard: 'healthy', target: 'ready' } } },
          },
        },
        index: {
          initial: 'waiting',
          states: {
            waiting: {
              always: [{ guard: 'indexOff', target: 'off' }, { guard: stateIn({ live: { store: 'ready' } }), target: 'counting' }],
              on: { 'hive.memory.health': { guard: 'healthy', target: 'counting' } },
            },
            counting: {
              invoke: {
                src: 'count',
                input: ({ context }) => ({ parts: context.parts }),
                onDone: { target: 'pending', actions: assign({ storedDocs: ({ context, event }) => context.storedDocs + event.output }) },
                onError: 'waiting',
              },
            },
            pending: { always: { guard: 'enoughDocs', target: 'quiet' } },
            quiet: {
              after: { quiet: 'checking' },
              on: { 'hive.memory.committed': { target: 'quiet', reenter: true, actions: 'committed' } },
            },
            /** Batches being committed or queued: wait for another quiet period. */
            checking: {
              invoke: {
                src: 'busy',
                input: ({ context }) => ({ parts: context.parts }),
                onDone: [{ guard: 'busy', target: 'quiet', actions: 'opened' }, { target: 'indexing' }],
                onError: 'indexing',
              },
            },
            indexing: {
              invoke: {
                src: 'buildIndex',
                input: ({ context }) => ({ parts: context.parts }),
                onDone: 'indexed',
                onError: {
                  target: 'failed',
                  actions: ({ context, event }) => context.parts.logger.warn({ err: event.error }, 'building the memory HNSW index failed'),
                },
              },
            },
            indexed: {},
            /** Tried again after the next commit. */
            failed: { on: { 'hive.memory.committed': { target: 'pending', actions: 'committed' } } },
            off: {},
          },
        },
      },
    },
    /** Stops committing (batches being committed finish) and answers what waits; new requests get UNAVAILABLE. */
    closing: {
      on: { 'memory.ingest': { actions: 'refuse' }, 'memory.search': { actions: 'refuse' }, 'memory.delete': { actions: 'refuse' }, 'memory.stats': { actions: 'refuse' } },
      invoke: {
        src: 'close',
        input: ({ context }) => ({ parts: context.parts }),
        onDone: { target: 'closed', actions: ({ context }) => context.closeRequest && reply(context.closeRequest, { type: 'hive.memory.closed' }) },
        onError: { target: 'closed', actions: ({ context, event }) => context.closeRequest && replyError(context.closeRequest, event.error) },
      },
    },
    closed: {
      on: { 'memory.ingest': { actions: 'refuse' }, 'memory.search': { actions: 'refuse' }, 'memory.delete': { actions: 'refuse' }, 'memory.stats': { actions: 'refuse' } },
    },
  },
});

/** The lifecycle a memory actor's snapshot shows: `opening`, `ready`, `degraded`, `closing` or `closed`. */
export type MemoryLifecycle = 'opening' | 'ready' | 'degraded' | 'closing' | 'closed';

/** Reads the lifecycle and the index state from a memory actor's snapshot value. */
export function memoryLifecycle(value: unknown): { state: MemoryLifecycle; index: string } {
  if (value === 'closing' || value === 'closed') return { state: value, index: '-' };
  const live = (value as { live?: { store?: string; index?: string } } | undefined)?.live;
  return { state: (live?.store as MemoryLifecycle | undefined) ?? 'opening', index: live?.index ?? '-' };
}
