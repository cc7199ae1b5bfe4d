// The node's process guard: an unhandled rejection or uncaught exception is logged and counted, and the
// process keeps running (tested on an emitter standing in for `process`, so the test runner is untouched).
import { EventEmitter } from 'node:events';
import { Writable } from 'node:stream';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { MetricsRegistry } from '../../../runtime/metrics.js';
import { installProcessGuard } from '../../../runtime/processGuard.js';

describe('processGuard', () => {
  it('logs and counts unhandled errors, and removes its handlers', async () => {
    const lines: string[] = [];
    const logger = pino(
      { level: 'error' },
      new Writable({
        write(chunk: Buffer, _e, cb) {
          lines.push(chunk.toString());
          cb();
        },
      }),
    );
    const metrics = new MetricsRegistry({ cluster: 'c', node: 'n' }, { processMetrics: false });
    const proc = new EventEmitter();
    const off = installProcessGuard(logger, metrics, proc as unknown as NodeJS.Process);
    proc.emit('unhandledRejection', new Error('lost promise'));
    proc.emit('uncaughtException', new Error('thrown from a timer'));
    const text = await metrics.text();
    expect(text).toMatch(/hive_unhandled_errors_total\{kind="rejection",cluster="c",node="n"\} 1/);
    expect(text).toMatch(/hive_unhandled_errors_total\{kind="exception",cluster="c",node="n"\} 1/);
    await new Promise((r) => setImmediate(r));
    expect(lines.join('')).toContain('lost promise');
    expect(lines.join('')).toContain('thrown from a timer');
    off();
    expect(proc.listenerCount('unhandledRejection')).toBe(0);
    expect(proc.listenerCount('uncaughtException')).toBe(0);
  });
});
