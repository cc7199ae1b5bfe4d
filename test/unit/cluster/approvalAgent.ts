// The README's approval agent: waits up to a day for a human, then escalates. The wait is a durable timer
// (hive.schedule), not an xstate `after`, so it survives the agent's node dying.
import { assign, setup } from 'xstate';
import type { Hive } from '../../../cluster/Hive.js';
import type { HiveEvent } from '../../../protocols/envelope.js';
import { reply } from '../../../runtime/reply.js';

export const DAY_MS = 24 * 3600_000;

export function approvalAgent(hive: Hive) {
  return setup({ types: { context: {} as { id: string | undefined; what: string | undefined }, events: {} as HiveEvent } }).createMachine({
    initial: 'idle',
    context: { id: undefined, what: undefined },
    on: { status: { actions: ({ self, event }) => reply(event, { type: 'status', state: JSON.stringify(self.getSnapshot().value) }) } },
    states: {
      idle: {
        on: {
          request: {
            target: 'waiting',
            actions: [
              assign({ id: ({ event }) => String(event['id']), what: ({ event }) => String(event['what']) }),
              ({ event }) =>
                void hive
                  .schedule({ kind: 'approval', key: String(event['id']) }, { type: 'deadline' }, { afterMs: DAY_MS, id: `approval-${String(event['id'])}` })
                  .catch((err: unknown) => hive.logger.error({ err }, 'could not set the approval deadline')),
            ],
          },
        },
      },
      waiting: {
        on: {
          approve: {
            target: 'approved',
            actions: ({ context }) => void hive.cancelSchedule(`approval-${context.id}`).catch(() => undefined),
          },
          deadline: {
            target: 'escalated',
            actions: ({ context }) => hive.ref('oncall').tell({ type: 'escalation', id: context.id, what: context.what }),
          },
        },
      },
      approved: {},
      escalated: {},
    },
  });
}
