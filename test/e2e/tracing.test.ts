// One request across two node processes is one trace: this test process is a node with an OpenTelemetry SDK
// (in-memory exporter); the other is `hive start` exporting OTLP (OTEL_EXPORTER_OTLP_ENDPOINT) to a tiny
// OTLP/HTTP collector this test runs. The asker's span travels in the envelope's `t` field and the serving
// node's span is its child. A plain NATS client's `traceparent` header is continued the same way.
import { createServer, type Server } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, headers } from '@nats-io/transport-node';
import { context, propagation, trace } from '@opentelemetry/api';
import { InMemorySpanExporter, NodeTracerProvider, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Hive } from '../../cluster/Hive.js';
import { silentLogger } from '../../runtime/logger.js';
import { startHiveNode, stopHiveNode, type HiveNode } from '../support/hiveProcess.js';
import { natsBinaryAvailable, startNatsServer, uniqueName, type OwnNatsServer } from '../support/services.js';

/** A span as the OTLP/JSON encoding carries it (ids in hex). */
interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
}

/** A tiny OTLP/HTTP collector: keeps every span POSTed to /v1/traces (JSON encoding). */
async function startCollector(): Promise<{ url: string; spans: OtlpSpan[]; close: () => Promise<void> }> {
  const spans: OtlpSpan[] = [];
  const server: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      if (req.url === '/v1/traces' && req.method === 'POST') {
        const parsed = JSON.parse(body) as { resourceSpans?: Array<{ scopeSpans?: Array<{ spans?: OtlpSpan[] }> }> };
        for (const rs of parsed.resourceSpans ?? []) for (const ss of rs.scopeSpans ?? []) spans.push(...(ss.spans ?? []));
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{}');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as { port: number }).port;
  return { url: `http://127.0.0.1:${port}`, spans, close: () => new Promise<void>((r) => server.close(() => r())) };
}

async function until<T>(what: string, probe: () => T | undefined, limitMs = 20_000): Promise<T> {
  const end = Date.now() + limitMs;
  for (;;) {
    const v = probe();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`gave up waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe.skipIf(!natsBinaryAvailable())('traces across node processes', () => {
  let server: OwnNatsServer;
  let collector: Awaited<ReturnType<typeof startCollector>>;
  let other: HiveNode;
  let hive: Hive;
  let dataDir: string;
  const exporter = new InMemorySpanExporter();
  const provider = new NodeTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
  const cluster = uniqueName('trace');

  beforeAll(async () => {
    provider.register();
    server = await startNatsServer();
    collector = await startCollector();
    dataDir = mkdtempSync(join(tmpdir(), 'hive-trace-'));
    const load = join(import.meta.dirname, 'fixtures', 'tracedPool.ts');
    other = await startHiveNode(['--no-memory', '--nats', server.url, '--cluster', cluster, '--data-dir', dataDir, '--load', load], 'far', {
      ...process.env,
      OTEL_EXPORTER_OTLP_ENDPOINT: collector.url,
      OTEL_BSP_SCHEDULE_DELAY: '100',
      OTEL_SERVICE_NAME: 'hive-test',
    });
    // this node registers no kind: the virtual actors below live on the other process
    hive = await Hive.start({ cluster, nodeId: 'near', nats: server.url, env: false, logger: silentLogger(), heartbeatMs: 200, failureAfterMs: 1500 });
  }, 60_000);

  afterAll(async () => {
    await hive?.stop();
    if (other !== undefined) await stopHiveNode(other, 'SIGTERM');
    await server?.stop();
    await collector?.close();
    rmSync(dataDir, { recursive: true, force: true });
    await provider.shutdown();
    trace.disable();
    context.disable();
    propagation.disable();
  });

  it('the banner says where spans go', () => {
    expect(other.out()).toContain(`tracing    OTLP to ${collector.url}`);
  });

  it('an ask from this process to a virtual actor on the other is one trace: its server span is a child of our client span', async () => {
    const tracer = trace.getTracer('test');
    const rootTraceId = await tracer.startActiveSpan('request', async (root) => {
      expect(await hive.actor('echo', 'traced-1').ask({ type: 'ping' }, { timeoutMs: 10_000 })).toEqual({ type: 'pong' });
      root.end();
      return root.spanContext().traceId;
    });
    const mine = exporter.getFinishedSpans().filter((s) => s.spanContext().traceId === rootTraceId);
    const clientSpans = mine.filter((s) => s.name === 'ask ping');
    expect(clientSpans.length).toBeGreaterThan(0);
    const ourIds = new Set(mine.map((s) => s.spanContext().spanId));
    const theirs = await until('the other node’s span of this trace', () => {
      const found = collector.spans.filter((s) => s.traceId === rootTraceId && s.name === 'handle ping');
      return found.length > 0 ? found : undefined;
    });
    // one trace: every span the other process recorded for it hangs under a span of ours (or of its own)
    const all = new Set([...ourIds, ...collector.spans.filter((s) => s.traceId === rootTraceId).map((s) => s.spanId)]);
    for (const s of theirs) expect(all.has(s.parentSpanId ?? ''), `parent of ${s.name}`).toBe(true);
    expect(theirs.some((s) => ourIds.has(s.parentSpanId ?? ''))).toBe(true);
    expect(theirs.every((s) => s.kind === 2)).toBe(true); // SPAN_KIND_SERVER
  });

  it('a pool task queued in JetStream stays in its submitter\'s trace: task span, then the agent\'s own ask', async () => {
    const tracer = trace.getTracer('test');
    const rootSpanId = { id: '' };
    const rootTraceId = await tracer.startActiveSpan('submit', async (root) => {
      rootSpanId.id = root.spanContext().spanId;
      expect(await hive.submit('traced', { key: 'from-agent' }, { timeoutMs: 20_000 })).toEqual({ type: 'pong' });
      root.end();
      return root.spanContext().traceId;
    });
    // the other process ran the task: its consumer span is a child of our span, and the agent's ask is in it
    const spans = await until('the task, its ask and the ask it served', () => {
      const found = collector.spans.filter((s) => s.traceId === rootTraceId);
      const task = found.find((s) => s.name === 'task traced');
      const ask = task && found.find((s) => s.name === 'ask ping' && s.parentSpanId === task.spanId);
      const handled = ask && found.find((s) => s.name === 'handle ping' && s.parentSpanId === ask.spanId);
      return handled === undefined ? undefined : { task: task!, ask: ask!, handled };
    });
    expect(spans.task.parentSpanId).toBe(rootSpanId.id);
    expect(spans.task.kind).toBe(5); // SPAN_KIND_CONSUMER
  });

  it('continues the traceparent NATS header of a plain client', async () => {
    const nc = await connect({ servers: server.url });
    try {
      const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
      const parent = '00f067aa0ba902b7';
      const h = headers();
      h.set('traceparent', `00-${traceId}-${parent}-01`);
      const m = await nc.request(`hive.${cluster}.kind.echo.traced-2`, JSON.stringify({ type: 'ping' }), { timeout: 10_000, headers: h });
      expect(m.json()).toEqual({ type: 'pong' });
      const spans = await until('a span continuing the header', () => {
        const found = collector.spans.filter((s) => s.traceId === traceId);
        return found.length > 0 ? found : undefined;
      });
      expect(spans.some((s) => s.parentSpanId === parent && s.name === 'handle ping')).toBe(true);
    } finally {
      await nc.close();
    }
  });
});
