// Spans around wire requests through @opentelemetry/api: a no-op unless an OpenTelemetry SDK is registered
// (`hive start` registers one when OTEL_EXPORTER_OTLP_ENDPOINT is set; an application may register its own).
// The transit calls these in its one send path and its one serve path, so every request between nodes (actor
// and virtual-actor asks, memory requests) carries its caller's trace in the envelope's `t` field, and a serving
// node continues that trace. Without an SDK nothing is recorded, but a caller's context still passes through.
import { context, trace, ProxyTracerProvider, SpanKind, SpanStatusCode, TraceFlags, type Context, type Span } from '@opentelemetry/api';
import { formatTraceparent, parseTraceparent } from '../protocols/traceparent.js';

/** The tracer name Hive's spans are recorded under. */
export const TRACER_NAME = 'agent-hive';

const NOOP_PROVIDER = new ProxyTracerProvider().getDelegate();

/** Whether an SDK is registered (spans are recorded); checked per request, cheaply. */
export function tracingEnabled(): boolean {
  const p = trace.getTracerProvider();
  return !(p instanceof ProxyTracerProvider) || p.getDelegate() !== NOOP_PROVIDER;
}

/** The `traceparent` of the span active in `ctx`, if any. */
export function traceparentOf(ctx: Context = context.active()): string | undefined {
  const sc = trace.getSpanContext(ctx);
  if (sc === undefined || !trace.isSpanContextValid(sc)) return undefined;
  return formatTraceparent({ traceId: sc.traceId, spanId: sc.spanId, flags: sc.traceFlags });
}

/** A context whose parent is the remote span named by `traceparent` (undefined when it is not a valid one). */
export function contextFromTraceparent(traceparent: string | undefined, base: Context = context.active()): Context | undefined {
  const p = parseTraceparent(traceparent);
  if (p === undefined) return undefined;
  return trace.setSpanContext(base, { traceId: p.traceId, spanId: p.spanId, traceFlags: p.flags & TraceFlags.SAMPLED, isRemote: true });
}

/** An outgoing request: its span (when recording) and the `traceparent` to send (when there is a trace). */
export interface OutgoingTrace {
  span: Span | undefined;
  traceparent: string | undefined;
}

const NONE: OutgoingTrace = { span: undefined, traceparent: undefined };

/** Starts the client span of a request to `subject` (`ask <type>`) under the active context. */
export function startClientSpan(type: string, subject: string): OutgoingTrace {
  const active = context.active();
  if (!tracingEnabled()) {
    const traceparent = traceparentOf(active);
    return traceparent === undefined ? NONE : { span: undefined, traceparent };
  }
  const span = trace.getTracer(TRACER_NAME).startSpan(
    `ask ${type}`,
    { kind: SpanKind.CLIENT, attributes: { 'messaging.system': 'nats', 'messaging.destination.name': subject, 'messaging.operation.type': 'send', 'hive.event.type': type } },
    active,
  );
  return { span, traceparent: traceparentOf(trace.setSpan(active, span)) };
}

/** An inbound request's trace: the context its handler runs in and its server span (when recording). */
export interface InboundTrace {
  context: Context;
  span: Span | undefined;
}

/**
 * Starts the server span of a request that arrived on `subject` (`handle <type>`), child of `traceparent`
 * (the envelope's `t`, or the `traceparent` NATS header). Undefined when there is neither an SDK nor a parent.
 */
export function startServerSpan(type: string, subject: string, traceparent: string | undefined, node: string): InboundTrace | undefined {
  const parent = contextFromTraceparent(traceparent, context.active());
  if (!tracingEnabled()) return parent === undefined ? undefined : { context: parent, span: undefined };
  const base = parent ?? context.active();
  const span = trace.getTracer(TRACER_NAME).startSpan(
    `handle ${type}`,
    { kind: SpanKind.SERVER, attributes: { 'messaging.system': 'nats', 'messaging.destination.name': subject, 'messaging.operation.type': 'process', 'hive.event.type': type, 'hive.node': node } },
    base,
  );
  return { context: trace.setSpan(base, span), span };
}

/**
 * Starts the consumer span of a pool task (`task <pool>`) taken from the durable queue, child of the submitter's
 * `traceparent` (carried in the task record), so a task queued in JetStream stays in its submitter's trace.
 * Undefined when there is neither an SDK nor a parent.
 */
export function startTaskSpan(pool: string, taskId: string, traceparent: string | undefined, node: string): InboundTrace | undefined {
  const parent = contextFromTraceparent(traceparent, context.active());
  if (!tracingEnabled()) return parent === undefined ? undefined : { context: parent, span: undefined };
  const base = parent ?? context.active();
  const span = trace.getTracer(TRACER_NAME).startSpan(
    `task ${pool}`,
    { kind: SpanKind.CONSUMER, attributes: { 'messaging.system': 'nats', 'messaging.operation.type': 'process', 'hive.pool': pool, 'hive.task.id': taskId, 'hive.node': node } },
    base,
  );
  return { context: trace.setSpan(base, span), span };
}

/** Ends `span`, marking it failed with `err` when given. */
export function endSpan(span: Span | undefined, err?: unknown): void {
  if (span === undefined) return;
  if (err !== undefined) {
    const e = err as { code?: unknown; message?: unknown };
    span.setStatus({ code: SpanStatusCode.ERROR, message: typeof e.message === 'string' ? e.message : 'failed' });
    if (typeof e.code === 'string') span.setAttribute('hive.error.code', e.code);
  }
  span.end();
}

/** Runs `fn` with `ctx` active (when given). */
export function withContext<T>(ctx: Context | undefined, fn: () => T): T {
  return ctx === undefined ? fn() : context.with(ctx, fn);
}
