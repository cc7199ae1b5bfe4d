// The built-in `echo` kind: answers any ask with the event it received (`ping` gets `pong`).
import { setup } from 'xstate';
import type { HiveEvent } from '../protocols/envelope.js';
import { reply } from '../runtime/reply.js';

/** Answers `ping` with `{ type: 'pong' }` and any other ask with the event itself. */
export const echoMachine = setup({ types: { events: {} as HiveEvent } }).createMachine({
  id: 'echo',
  on: {
    ping: { actions: ({ event }) => reply(event, { type: 'pong' }) },
    '*': { actions: ({ event }) => reply(event, event) },
  },
});
