// HttpEmbedder against a small local HTTP server speaking the OpenAI /v1/embeddings API: batches, bounded
// concurrency, retries on 429/5xx (Retry-After honored), the breaker, the dimension checked on the answer, no
// answer at all; and through a node's memory: a wrong dimension or a dead embedder stores nothing.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { HttpEmbedder } from '../../../../actors/memory/HttpEmbedder.js';
import { Hive } from '../../../../cluster/Hive.js';
import { memoryOptionsFromEnv } from '../../../../cluster/NodeMemory.js';
import { uniqueName } from '../../../support/services.js';
import { FakeStore } from './fakeStore.js';
import { errorOf } from '../../../support/errors.js';

interface Call {
  model: string;
  input: string[];
  auth: string | undefined;
}

/** A /v1/embeddings server: `answer` decides each response (default: `dims`-long vectors from the text). */
async function embeddingsServer(dims: number, answer?: (call: Call, n: number, res: ServerResponse) => boolean): Promise<{ url: string; calls: Call[]; maxInFlight: () => number; close(): Promise<void> }> {
  const calls: Call[] = [];
  let inFlight = 0;
  let most = 0;
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      inFlight++;
      most = Math.max(most, inFlight);
      const parsed = JSON.parse(body) as { model: string; input: string[] };
      const call: Call = { model: parsed.model, input: parsed.input, auth: req.headers['authorization'] };
      calls.push(call);
      setTimeout(() => {
        inFlight--;
        if (req.url !== '/v1/embeddings') {
          res.writeHead(404).end('not found');
          return;
        }
        if (answer?.(call, calls.length, res)) return;
        const data = call.input.map((text, index) => ({ object: 'embedding', index, embedding: Array.from({ length: dims }, (_, j) => ((text.length + 1) * (j + 1)) % 7 / 7 + 0.01) }));
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ object: 'list', data: data.reverse(), model: call.model }));
      }, 5);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  servers.push(server);
  return {
    url: `http://127.0.0.1:${port}/v1`,
    calls,
    maxInFlight: () => most,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

const servers: Server[] = [];
const hives: Hive[] = [];
afterEach(async () => {
  await Promise.all(hives.splice(0).map((h) => h.stop()));
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    s.close();
  }
});


describe('HttpEmbedder', () => {
  it('embeds in batches of batchSize with at most `concurrency` requests at once, in order, with the key and model', async () => {
    const s = await embeddingsServer(4);
    const e = new HttpEmbedder({ url: s.url, model: 'm1', dims: 4, apiKey: 'sk-test', batchSize: 3, concurrency: 2 });
    const texts = Array.from({ length: 10 }, (_, i) => 'x'.repeat(i));
    const out = await e.embed(texts);
    expect(out).toHaveLength(10);
    expect(s.calls.map((c) => c.input.length).sort()).toEqual([1, 3, 3, 3]);
    expect(s.maxInFlight()).toBeLessThanOrEqual(2);
    expect(s.calls.every((c) => c.model === 'm1' && c.auth === 'Bearer sk-test')).toBe(true);
    // answers come back in index order even when the server lists them reversed
    expect(Array.from(out[5])).toEqual(Array.from({ length: 4 }, (_, j) => Math.fround(((6 * (j + 1)) % 7) / 7 + 0.01)));
    expect(e.verified).toBe(true);
    e.dispose();
  });

  it('retries 429 (after Retry-After) and 5xx with backoff, then succeeds', async () => {
    const s = await embeddingsServer(2, (_call, n, res) => {
      if (n === 1) {
        res.writeHead(429, { 'retry-after': '0.05' }).end();
        return true;
      }
      if (n === 2) {
        res.writeHead(503).end();
        return true;
      }
      return false;
    });
    const e = new HttpEmbedder({ url: `${s.url}/embeddings`, model: 'm', dims: 2, retry: { minMs: 5, maxMs: 10 } });
    expect(await e.embed(['a'])).toHaveLength(1);
    expect(s.calls).toHaveLength(3);
    e.dispose();
  });

  it('refuses an answer of the wrong dimension with INVALID_CONFIG naming both, without retrying', async () => {
    const s = await embeddingsServer(768);
    const e = new HttpEmbedder({ url: s.url, model: 'big', dims: 384 });
    const err = await errorOf(e.embed(['hello']));
    expect(err.code).toBe('INVALID_CONFIG');
    expect(err.message).toContain('answers 768-dimension embeddings, but memory keeps 384');
    expect(s.calls).toHaveLength(1);
    e.dispose();
  });

  it('answers UNAVAILABLE when the endpoint does not answer in time, after its attempts, and the breaker then fails fast', async () => {
    const s = await embeddingsServer(2, () => true); // never responds
    const e = new HttpEmbedder({ url: s.url, model: 'm', dims: 2, timeoutMs: 50, attempts: 2, retry: { minMs: 1, maxMs: 2 }, breaker: { consecutiveFailures: 2, coolDownMs: 60_000 } });
    const err = await errorOf(e.embed(['a']));
    expect(err).toMatchObject({ code: 'UNAVAILABLE', retryable: true });
    expect(err.message).toContain('no answer within 50 ms');
    const fast = await errorOf(e.embed(['b']));
    expect(fast.code).toBe('CIRCUIT_OPEN');
    e.dispose();
  });

  it('is configured from the environment (url, model, dims, key) and names a missing variable', () => {
    const o = memoryOptionsFromEnv({ HIVE_EMBEDDER_URL: 'http://127.0.0.1:1/v1', HIVE_EMBEDDER_MODEL: 'nomic-embed-text', HIVE_EMBEDDER_DIMS: '768', HIVE_EMBEDDER_API_KEY: 'k' });
    expect(o.dims).toBe(768);
    expect(o.embedder).toBeInstanceOf(HttpEmbedder);
    expect((o.embedder as HttpEmbedder).endpoint).toBe('http://127.0.0.1:1/v1/embeddings');
    expect(() => memoryOptionsFromEnv({ HIVE_EMBEDDER_URL: 'http://x/v1', HIVE_EMBEDDER_DIMS: '8' })).toThrow(/HIVE_EMBEDDER_MODEL/);
    expect(() => memoryOptionsFromEnv({ HIVE_EMBEDDER_URL: 'http://x/v1', HIVE_EMBEDDER_MODEL: 'm' })).toThrow(/HIVE_EMBEDDER_DIMS/);
  });

  it('through memory: text is embedded by the model and found; a wrong dimension or a dead endpoint stores nothing', async () => {
    const good = await embeddingsServer(8);
    const store = new FakeStore(8);
    const hive = await Hive.start({ cluster: uniqueName('emb'), env: false, logLevel: 'silent', memory: { store, embedder: new HttpEmbedder({ url: good.url, model: 'm', dims: 8 }) } });
    hives.push(hive);
    expect(await hive.memory.ingest([{ id: 'a', namespace: 'e', content: 'abc' }, { id: 'b', namespace: 'e', content: 'abcdefgh' }])).toMatchObject({ inserted: 2 });
    expect((await hive.memory.search({ namespace: 'e', text: 'abc', k: 1 }))[0]?.id).toBe('a');

    const wrong = await embeddingsServer(16);
    const store2 = new FakeStore(8);
    const hive2 = await Hive.start({ cluster: uniqueName('emb'), env: false, logLevel: 'silent', memory: { store: store2, embedder: new HttpEmbedder({ url: wrong.url, model: 'm', dims: 8, batchSize: 2 }) } });
    hives.push(hive2);
    // the second batch is wrong: nothing of the request is stored, not even the first batch's documents
    let n = 0;
    const half = await embeddingsServer(8, (call, _n, res) => {
      if (++n < 2) return false;
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ data: call.input.map((_, index) => ({ index, embedding: [1, 2] })) }));
      return true;
    });
    const err = await errorOf(hive2.memory.ingest([{ id: 'x', namespace: 'e', content: 'one' }]));
    expect(err.code).toBe('INVALID_CONFIG');
    const store3 = new FakeStore(8);
    const hive3 = await Hive.start({ cluster: uniqueName('emb'), env: false, logLevel: 'silent', memory: { store: store3, embedder: new HttpEmbedder({ url: half.url, model: 'm', dims: 8, batchSize: 2, concurrency: 1 }) } });
    hives.push(hive3);
    const err3 = await errorOf(hive3.memory.ingest(['p', 'q', 'r', 's'].map((id) => ({ id, namespace: 'e', content: `text ${id}` }))));
    expect(err3.code).toBe('INVALID_CONFIG');
    expect(store2.docs.size).toBe(0);
    expect(store3.docs.size).toBe(0);
    expect(store3.calls.ingest).toBe(0);
  });
});
