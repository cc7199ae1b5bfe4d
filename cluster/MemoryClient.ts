// MemoryClient: the cluster's memory (`hive.<cluster>.memory`) from a plain NATS client, as the CLI's
// `hive ingest` and `hive search` use it. Binary frames (embeddings travel as Float32Array), typed errors.
import { memorySubject, type IngestedAnswer, type QueuedAnswer, type ResultsAnswer } from '../actors/memory/memoryProtocol.js';
import { ENVELOPE_VERSION, parseEnvelope, type AskEnvelope, type HiveEvent } from '../protocols/envelope.js';
import { BadFrameError, NoSuchActorError, errorFromReply, toHiveError } from '../protocols/errors.js';
import { FrameCodec } from '../protocols/frame.js';
import { assertToken } from '../protocols/subjects.js';
import { LOCAL_NATS_URL } from './localNats.js';
import { natsOptionsFromEnv } from './natsOptions.js';
import { NatsTransport } from './NatsTransport.js';
import { secureId } from '../runtime/ids.js';

/** A connection to one cluster's memory. */
export class MemoryClient {
  private readonly codec = new FrameCodec({ maxMessageBytes: 64 * 1024 * 1024 });

  private constructor(
    readonly cluster: string,
    private readonly transport: NatsTransport,
  ) {}

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

  /** Sends one memory request and returns the answer event; an error answer is thrown as its typed error. */
  async request(event: HiveEvent, timeoutMs: number): Promise<HiveEvent> {
    const subject = memorySubject(this.cluster);
    const env: AskEnvelope = { v: ENVELOPE_VERSION, k: 'a', e: event, c: secureId(), d: Date.now() + timeoutMs };
    let bytes: Uint8Array;
    try {
      bytes = await this.transport.request(subject, this.codec.encode(env), timeoutMs);
    } catch (err) {
      const e = toHiveError(err);
      if (e.code === 'NO_SUCH_ACTOR') {
        throw new NoSuchActorError(`no node of cluster "${this.cluster}" serves memory (nothing listens on ${subject}; start one with: hive start --cluster ${this.cluster})`, {
          cause: err,
          details: { subject },
        });
      }
      throw e;
    }
    const reply = parseEnvelope(this.codec.decode(bytes));
    if (reply.k !== 'r') throw new BadFrameError(`expected a reply frame, got kind "${reply.k}"`);
    if (reply.err !== undefined) throw errorFromReply(reply.err);
    if (reply.ok === undefined) throw new BadFrameError('memory reply has neither ok nor err');
    return reply.ok;
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
    return this.transport.close();
  }
}
