// MemoryClient: the cluster's memory (`hive.<cluster>.memory`) from a plain NATS client, as the CLI's
// `hive ingest` and `hive search` use it. Binary frames (embeddings travel as Float32Array), typed errors.
import { memorySubject, type IngestedAnswer, type QueuedAnswer, type ResultsAnswer } from '../actors/memory/memoryProtocol.js';
import type { HiveEvent } from '../protocols/envelope.js';
import { FrameCodec } from '../protocols/frame.js';
import { assertToken } from '../protocols/subjects.js';
import { Transit } from '../runtime/Transit.js';
import { LOCAL_NATS_URL } from './localNats.js';
import { natsOptionsFromEnv } from './natsOptions.js';
import { NatsTransport } from './NatsTransport.js';
import { memoryNamespaceSubject, namespaceOfRequest } from '../actors/memory/namespaceScope.js';

/** A connection to one cluster's memory. */
export class MemoryClient {
  private readonly transit: Transit;

  private constructor(
    readonly cluster: string,
    private readonly transport: NatsTransport,
  ) {
    const maxMessageBytes = 64 * 1024 * 1024;
    this.transit = new Transit({ transport, codec: new FrameCodec({ maxMessageBytes }), cluster, nodeId: 'client', maxMessageBytes, defaultTimeoutMs: 60_000 });
  }

  /** Connects to NATS (`nats` URL(s), else HIVE_NATS_* from the environment, else the local server). */
  static async connect(options: { cluster: string; nats?: string | undefined; name?: string }): Promise<MemoryClient> {
    const cluster = assertToken(options.cluster, 'cluster name');
    const env = natsOptionsFromEnv(process.env);
    const transport = await NatsTransport.connect({ ...env, servers: options.nats ?? env.servers ?? LOCAL_NATS_URL, name: options.name ?? 'hive-cli' });
    return new MemoryClient(cluster, transport);
  }

  /** The server's largest payload: requests must stay under it. */
  get maxPayload(): number {
    return this.transport.maxPayload;
  }

  /**
   * Sends one memory request (through the transit: its deadline travels with it, the serving node gives up
   * when the caller does) and returns the answer event; an error answer is thrown as its typed error.
   */
  request(event: HiveEvent, timeoutMs: number, signal?: AbortSignal): Promise<HiveEvent> {
    // one namespace: on its own subject, so a NATS permission can grant a tenant that namespace only
    const ns = namespaceOfRequest(event);
    const subject = ns === undefined ? memorySubject(this.cluster) : memoryNamespaceSubject(this.cluster, ns);
    return this.transit.request(subject, event, {
      timeoutMs,
      signal,
      what: 'memory',
      noResponders: `no node of cluster "${this.cluster}" serves memory (nothing listens on ${subject}; start one with: hive start --cluster ${this.cluster})`,
    });
  }

  /** Ingests one batch of documents. */
  async ingest(docs: unknown[], options: { namespace: string; wait: boolean; timeoutMs: number }): Promise<IngestedAnswer | QueuedAnswer> {
    const answer = await this.request({ type: 'memory.ingest', docs, namespace: options.namespace, wait: options.wait }, options.timeoutMs);
    return answer as unknown as IngestedAnswer | QueuedAnswer;
  }

  /** Searches a namespace by text. */
  async search(query: { text: string; namespace: string; k: number; filter?: Record<string, unknown> }, timeoutMs: number): Promise<ResultsAnswer> {
    return (await this.request({ type: 'memory.search', ...query }, timeoutMs)) as unknown as ResultsAnswer;
  }

  close(): Promise<void> {
    this.transit.stop();
    return this.transport.close();
  }
}
