// Dead letters keep a bounded summary of the most recent ones (no event bodies), configurable with
// deadLetterKeep, visible in hive_dead_letters_kept; subscribers still see each whole letter at once.
import { afterEach, describe, expect, it } from 'vitest';
import { Hive } from '../../../cluster/Hive.js';
import { DEAD_LETTER_TEXT_LIMIT, DEFAULT_DEAD_LETTER_KEEP, DeadLetters, type DeadLetter } from '../../../runtime/DeadLetters.js';
import { InProcBus, InProcTransport } from '../../../runtime/InProcTransport.js';
import { silentLogger } from '../../../runtime/logger.js';
import { MetricsRegistry } from '../../../runtime/metrics.js';
import { defaultConfig } from '../../../runtime/config.js';
import { echoMachine } from '../../support/machines.js';

const nodes: Hive[] = [];
afterEach(async () => {
  await Promise.all(nodes.splice(0).map((n) => n.stop()));
});

function metrics(): MetricsRegistry {
  return new MetricsRegistry({ cluster: 'unit', node: 'n' }, { processMetrics: false });
}

describe('DeadLetters', () => {
  it('keeps at most `keep` summaries, oldest evicted, and never an event body', () => {
    const letters = new DeadLetters(metrics(), 3);
    const big = 'x'.repeat(1_000_000);
    for (let i = 0; i < 10; i++) letters.publish({ to: `a${i}`, event: { type: 'put', blob: big }, reason: 'failed', at: i, detail: big });
    const recent = letters.recent();
    expect(recent.map((l) => l.to)).toEqual(['a7', 'a8', 'a9']);
    expect(recent[0]).toEqual({ to: 'a7', type: 'put', reason: 'failed', at: 7, detail: expect.any(String) });
    expect(recent[0].detail!.length).toBeLessThanOrEqual(DEAD_LETTER_TEXT_LIMIT);
    expect(JSON.stringify(recent).length).toBeLessThan(3 * 1024);
    expect(letters.count).toBe(10);
  });

  it('gives subscribers the whole letter, keeps nothing with keep 0, and shows the bound in a metric', async () => {
    const m = metrics();
    const letters = new DeadLetters(m, 0);
    const seen: DeadLetter[] = [];
    letters.subscribe((l) => seen.push(l));
    letters.publish({ to: 'a', event: { type: 'e', n: 1 }, reason: 'stopped', at: 1 });
    expect(seen[0].event).toEqual({ type: 'e', n: 1 });
    expect(letters.recent()).toEqual([]);
    const text = await m.text();
    expect(text).toMatch(/hive_dead_letters_kept\{stat="limit"[^}]*\} 0/);
    expect(text).toMatch(/hive_dead_letters_kept\{stat="count"[^}]*\} 0/);
  });

  it('keeps 100 by default; a node takes deadLetterKeep', async () => {
    expect(DEFAULT_DEAD_LETTER_KEEP).toBe(100);
    expect(defaultConfig.deadLetterKeep).toBe(DEFAULT_DEAD_LETTER_KEEP);
    const hive = await Hive.start({ cluster: 'dl', env: false, logger: silentLogger(), transport: new InProcTransport(new InProcBus()), deadLetterKeep: 2 });
    nodes.push(hive);
    const ref = await hive.spawn(echoMachine, { id: 'e' });
    for (let i = 0; i < 5; i++) ref.tell({ type: `unknown-${i}` });
    await ref.ask({ type: 'ping' });
    expect(hive.deadLetters.recent().map((l) => l.type)).toEqual(['unknown-3', 'unknown-4']);
    expect(await hive.metrics.text()).toMatch(/hive_dead_letters_kept\{stat="count"[^}]*\} 2/);
  });
});
