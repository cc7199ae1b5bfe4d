// The memory actor: an xstate machine in front of the node's MemoryService. It answers `memory.ingest`,
// `memory.search`, `memory.delete` and `memory.stats` asks (in every state: requests that arrive while the
// store is still opening are answered once it is open), and follows the store's state (opening, ready,
// unavailable) for status and inspection.
import { assign, fromCallback, setup } from 'xstate';
import type { HiveEvent } from '../../protocols/envelope.js';
import { reply, replyError } from '../../runtime/reply.js';
import type { MemoryService, MemoryState } from './MemoryService.js';

/** The memory actor's input. */
export interface MemoryMachineInput {
  service: MemoryService;
}

/** The memory actor's context. */
export interface MemoryMachineContext {
  service: MemoryService;
  /** Requests taken (answered or in progress). */
  requests: number;
}

type StateEvent = { type: 'memory.state'; state: MemoryState };

/** Follows the service's store state and reports each change to the machine. */
const storeState = fromCallback<StateEvent, { service: MemoryService }>(({ sendBack, input }) => {
  sendBack({ type: 'memory.state', state: input.service.state });
  return input.service.onState((state) => sendBack({ type: 'memory.state', state }));
});

/** Hands a request to the service and answers the ask when it settles (a tell gets no answer). */
function forward(service: MemoryService, event: HiveEvent): void {
  service.handle(event).then(
    (answer) => reply(event, answer as unknown as HiveEvent),
    (err: unknown) => replyError(event, err),
  );
}

/**
 * The memory machine. Spawn it with `{ input: { service } }` (a node with memory does: actor id
 * `memory-<nodeId>`). Answers: `memory.ingested` / `memory.queued`, `memory.results`, `memory.deleted`,
 * `memory.stats`, or a typed error.
 */
export const memoryMachine = setup({
  types: { context: {} as MemoryMachineContext, input: {} as MemoryMachineInput, events: {} as HiveEvent },
  actors: { storeState },
  actions: {
    count: assign({ requests: ({ context }) => context.requests + 1 }),
    forward: ({ context, event }) => forward(context.service, event),
  },
  guards: {
    is: ({ event }, state: MemoryState) => (event as unknown as StateEvent).state === state,
  },
}).createMachine({
  id: 'memory',
  context: ({ input }) => ({ service: input.service, requests: 0 }),
  invoke: { src: 'storeState', input: ({ context }) => ({ service: context.service }) },
  initial: 'opening',
  on: {
    'memory.ingest': { actions: ['count', 'forward'] },
    'memory.search': { actions: ['count', 'forward'] },
    'memory.delete': { actions: ['count', 'forward'] },
    'memory.stats': { actions: ['count', 'forward'] },
    'memory.state': [
      { guard: { type: 'is', params: 'ready' }, target: '.ready' },
      { guard: { type: 'is', params: 'unavailable' }, target: '.unavailable' },
      { guard: { type: 'is', params: 'opening' }, target: '.opening' },
    ],
  },
  states: {
    /** The store's first open is in progress (PGlite's first open of a new folder takes seconds). */
    opening: {},
    /** The store answers. */
    ready: {},
    /** The last attempt to reach the database failed; requests still try it (through the breaker). */
    unavailable: {},
  },
});
