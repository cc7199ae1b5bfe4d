// The built-in `counter` kind: `inc` adds `by` (default 1); `get` answers `{ type: 'count', value }`.
import { assign, setup } from 'xstate';
import type { HiveEvent } from '../protocols/envelope.js';
import { InvalidEventError } from '../protocols/errors.js';
import { reply, replyError } from '../runtime/reply.js';

/** Counter input: the starting value. */
export interface CounterInput {
  value?: number;
}

/** A counter: `inc { by? }` adds (and answers the new count when asked), `get` answers the count, `reset` zeroes it. */
export const counterMachine = setup({
  types: { context: {} as { value: number }, events: {} as HiveEvent, input: {} },
  guards: {
    validBy: ({ event }) => event['by'] === undefined || (typeof event['by'] === 'number' && Number.isFinite(event['by'])),
  },
}).createMachine({
  id: 'counter',
  context: ({ input }: { input: CounterInput | undefined }) => ({ value: typeof input?.value === 'number' ? input.value : 0 }),
  on: {
    inc: [
      {
        guard: 'validBy',
        actions: [
          assign({ value: ({ context, event }) => context.value + ((event['by'] as number | undefined) ?? 1) }),
          ({ context, event }) => reply(event, { type: 'count', value: context.value }),
        ],
      },
      { actions: ({ event }) => replyError(event, new InvalidEventError(`"by" must be a finite number, got ${JSON.stringify(event['by'])}`)) },
    ],
    get: { actions: ({ context, event }) => reply(event, { type: 'count', value: context.value }) },
    reset: { actions: [assign({ value: 0 }), ({ event }) => reply(event, { type: 'count', value: 0 })] },
  },
});
