import { describe, expect, it } from 'vitest';
import { InProcBus, InProcTransport } from '../../../runtime/InProcTransport.js';
import type { TransportMessage } from '../../../runtime/Transport.js';
import { HiveError } from '../../../protocols/errors.js';

const bytes = (s: string) => new TextEncoder().encode(s);
const text = (b: Uint8Array) => new TextDecoder().decode(b);
const tick = () => new Promise((r) => setImmediate(r));

describe('in-process transport', () => {
  it('routes exact and wildcard subjects and copies payloads', async () => {
    const bus = new InProcBus();
    const t = new InProcTransport(bus);
    const got: string[] = [];
    t.subscribe('a.b.c', (m) => got.push(`exact:${m.subject}`));
    t.subscribe('a.*.c', (m) => got.push(`star:${m.subject}`));
    t.subscribe('a.>', (m) => got.push(`tail:${m.subject}`));
    const payload = bytes('x');
    t.publish('a.b.c', payload);
    t.publish('a.z', bytes('y'));
    payload[0] = 0;
    await tick();
    expect(got.sort()).toEqual(['exact:a.b.c', 'star:a.b.c', 'tail:a.b.c', 'tail:a.z']);
    await t.close();
  });

  it('delivers each message to one member of a queue group', async () => {
    const bus = new InProcBus();
    const t = new InProcTransport(bus);
    const counts = [0, 0, 0];
    counts.forEach((_, i) => t.subscribe('work', () => counts[i]++, { queue: 'q' }));
    for (let i = 0; i < 30; i++) t.publish('work', bytes('job'));
    await tick();
    expect(counts.reduce((a, b) => a + b)).toBe(30);
    expect(counts.every((c) => c > 0)).toBe(true);
    await t.close();
  });

  it('requests over one shared inbox and answers NO_SUCH_ACTOR when nobody listens', async () => {
    const bus = new InProcBus();
    const server = new InProcTransport(bus);
    const client = new InProcTransport(bus);
    server.subscribe('svc', (m: TransportMessage) => server.publish(m.reply!, bytes(`re:${text(m.data)}`)));
    const answers = await Promise.all(Array.from({ length: 100 }, (_, i) => client.request('svc', bytes(String(i)), 1000)));
    expect(answers.map(text)).toEqual(Array.from({ length: 100 }, (_, i) => `re:${i}`));
    await expect(client.request('nobody', bytes('?'), 1000)).rejects.toMatchObject({ code: 'NO_SUCH_ACTOR' });
    await server.close();
    await client.close();
  });

  it('rejects pending requests when closed, and refuses oversized payloads', async () => {
    const bus = new InProcBus(16);
    const server = new InProcTransport(bus);
    server.subscribe('slow', () => undefined);
    const client = new InProcTransport(bus);
    const pending = client.request('slow', bytes('x'), 10_000);
    await tick();
    await client.close();
    await expect(pending).rejects.toMatchObject({ code: 'UNAVAILABLE' });
    expect(() => server.publish('slow', new Uint8Array(17))).toThrow(HiveError);
    expect(() => server.publish('slow', new Uint8Array(17))).toThrow(/exceeds/);
    await server.close();
  });
});
