// Small xstate machines the tests share: an echo, a counter, one that never answers, one that fails.
import { assign, setup } from 'xstate';
import { reply } from '../../runtime/reply.js';
import type { HiveEvent } from '../../protocols/envelope.js';

/** Answers `ping` with `pong`, echoes `echo` events, remembers `note` texts. */
export const echoMachine = setup({
  types: { context: {} as { notes: string[] }, events: {} as HiveEvent },
}).createMachine({
  id: 'echo',
  context: { notes: [] },
  on: {
    ping: { actions: ({ event }) => reply(event, { type: 'pong' }) },
    echo: { actions: ({ event }) => reply(event, { ...event, type: 'echoed' }) },
    note: { actions: assign({ notes: ({ context, event }) => [...context.notes, String(event['text'])] }) },
    notes: { actions: ({ context, event }) => reply(event, { type: 'notes', notes: context.notes }) },
  },
});

/** Keeps the ask of `hold` and answers it when `release` arrives; ignores `silent`. */
export const laterMachine = setup({
  types: { context: {} as { held: HiveEvent | undefined }, events: {} as HiveEvent },
}).createMachine({
  id: 'later',
  context: { held: undefined },
  on: {
    hold: { actions: assign({ held: ({ event }) => event }) },
    release: { actions: ({ context }) => reply(context.held, { type: 'released' }) },
    silent: { actions: () => undefined },
  },
});

/** Throws on `boom`. */
export const fragileMachine = setup({ types: { events: {} as HiveEvent } }).createMachine({
  id: 'fragile',
  on: {
    ping: { actions: ({ event }) => reply(event, { type: 'pong' }) },
    boom: {
      actions: () => {
        throw new Error('kaboom');
      },
    },
  },
});
