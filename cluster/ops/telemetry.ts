// OpenTelemetry for `hive start`: when the standard OTEL_EXPORTER_OTLP_ENDPOINT (or
// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) is set, register the Node SDK with an OTLP/HTTP exporter, so the spans the
// transit records (runtime/tracing.ts) leave the process. The SDK is loaded only then; without it the spans are
// no-ops. The exporter and batch processor read the other standard OTEL_* variables themselves
// (OTEL_EXPORTER_OTLP_HEADERS, OTEL_BSP_SCHEDULE_DELAY, ...); OTEL_SERVICE_NAME defaults to `hive`.

/** A running SDK: where it exports, and how to flush and stop it. */
export interface Telemetry {
  endpoint: string;
  shutdown(): Promise<void>;
}

/** Starts tracing export when the environment asks for it; undefined otherwise (or with OTEL_SDK_DISABLED=true). */
export async function startTelemetry(env: NodeJS.ProcessEnv, identity: { cluster: string; nodeId: string }): Promise<Telemetry | undefined> {
  const endpoint = env['OTEL_EXPORTER_OTLP_TRACES_ENDPOINT'] || env['OTEL_EXPORTER_OTLP_ENDPOINT'];
  if (endpoint === undefined || endpoint === '' || env['OTEL_SDK_DISABLED'] === 'true') return undefined;
  const [{ NodeTracerProvider, BatchSpanProcessor }, { OTLPTraceExporter }, { resourceFromAttributes }] = await Promise.all([
    import('@opentelemetry/sdk-trace-node'),
    import('@opentelemetry/exporter-trace-otlp-http'),
    import('@opentelemetry/resources'),
  ]);
  const provider = new NodeTracerProvider({
    resource: resourceFromAttributes({
      'service.name': env['OTEL_SERVICE_NAME'] || 'hive',
      'service.instance.id': identity.nodeId,
      'hive.cluster': identity.cluster,
      'hive.node': identity.nodeId,
    }),
    spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter())],
  });
  provider.register();
  return { endpoint, shutdown: () => provider.shutdown() };
}
