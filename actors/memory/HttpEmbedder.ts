// An Embedder over an OpenAI-compatible `POST /v1/embeddings` endpoint (OpenAI, Ollama, vLLM,
// text-embeddings-inference): texts go in batches of `batchSize`, at most `concurrency` requests at once, each
// retried with the one backoff (full jitter, or the server's Retry-After) on 429, 5xx, a timeout or a refused
// connection, behind a circuit breaker. Every answer is checked: one embedding per input, each of `dims`
// finite numbers (the first answer tells a wrong model or dimension at once: INVALID_CONFIG). A call either
// returns every embedding or throws: the memory pipeline embeds a whole request before it queues any of it.
import { HiveError, UnavailableError, toHiveError } from '../../protocols/errors.js';
import { Backoff, type BackoffOptions } from '../../runtime/Backoff.js';
import { systemClock, type Clock } from '../../runtime/Clock.js';
import type { MetricsRegistry } from '../../runtime/metrics.js';
import { CircuitBreaker } from '../breaker/CircuitBreaker.js';
import type { BreakerOptions } from '../breaker/breakerOptions.js';
import type { Embedder } from './Embedder.js';

/** Options of {@link HttpEmbedder}. */
export interface HttpEmbedderOptions {
  /** The endpoint: `https://api.openai.com/v1` or `http://127.0.0.1:11434/v1` (`/embeddings` is added), or the full `/v1/embeddings` URL. */
  url: string;
  /** The model name sent with each request. */
  model: string;
  /** Dimensions every embedding must have (the store's). */
  dims: number;
  /** Sent as `Authorization: Bearer <apiKey>` (read it from the environment, never from a flag). */
  apiKey?: string;
  /** Texts per request (default 64). */
  batchSize?: number;
  /** Requests in flight at once (default 4). */
  concurrency?: number;
  /** Deadline of one request, ms (default 30,000). */
  timeoutMs?: number;
  /** Attempts per batch, the first included (default 5). */
  attempts?: number;
  /** Retry delays (default 250 ms doubling to 8 s, full jitter); a Retry-After header wins. */
  retry?: BackoffOptions;
  /** Circuit breaker around the endpoint, or false (default: opens after 5 failed batches in a row, 5 s cool-down). */
  breaker?: BreakerOptions | false;
  clock?: Clock;
  metrics?: MetricsRegistry;
  /** Uniform numbers in [0, 1) for the jitter. */
  random?: () => number;
}

/** A failure worth another attempt (the server is busy or down), with the server's Retry-After when it gave one. */
class RetryableHttpError extends UnavailableError {
  constructor(
    message: string,
    readonly retryAfterMs: number | undefined,
  ) {
    super(message, { retryable: true });
  }
}

function positiveInt(option: string, value: number): number {
  if (!Number.isInteger(value) || value < 1) throw new HiveError('INVALID_CONFIG', `embedder option ${option} must be a positive integer, got ${String(value)}`, { details: { option: `embedder.${option}` } });
  return value;
}

/** Embeds texts with a model behind an OpenAI-compatible HTTP API. */
export class HttpEmbedder implements Embedder {
  readonly dims: number;
  readonly endpoint: string;
  readonly breaker: CircuitBreaker | undefined;
  private readonly o: HttpEmbedderOptions;
  private readonly batchSize: number;
  private readonly concurrency: number;
  private readonly timeoutMs: number;
  private readonly attempts: number;
  private readonly backoff: Backoff;
  private readonly clock: Clock;
  private running = 0;
  private readonly queue: Array<() => void> = [];
  /** Whether an answer has shown the model's dimension to be right. */
  private checked = false;

  constructor(options: HttpEmbedderOptions) {
    let u: URL;
    try {
      u = new URL(options.url);
    } catch {
      throw new HiveError('INVALID_CONFIG', `embedder url must be an http(s) URL, got ${JSON.stringify(options.url)}`, { details: { option: 'embedder.url' } });
    }
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new HiveError('INVALID_CONFIG', `embedder url must be http(s), got ${u.protocol}`, { details: { option: 'embedder.url' } });
    if (typeof options.model !== 'string' || options.model === '') throw new HiveError('INVALID_CONFIG', 'embedder model must be a non-empty string', { details: { option: 'embedder.model' } });
    this.o = options;
    this.dims = positiveInt('dims', options.dims);
    this.endpoint = /\/embeddings\/?$/.test(u.pathname) ? u.toString() : `${u.toString().replace(/\/$/, '')}/embeddings`;
    this.batchSize = positiveInt('batchSize', options.batchSize ?? 64);
    this.concurrency = positiveInt('concurrency', options.concurrency ?? 4);
    this.timeoutMs = positiveInt('timeoutMs', options.timeoutMs ?? 30_000);
    this.attempts = positiveInt('attempts', options.attempts ?? 5);
    this.backoff = new Backoff({ minMs: 250, maxMs: 8_000, resetAfterMs: 0, ...options.retry }, options.random);
    this.clock = options.clock ?? systemClock;
    if (options.breaker !== false) {
      this.breaker = new CircuitBreaker(
        'embedder',
        // a wrong model or dimension is the configuration's fault, not the endpoint's health
        { consecutiveFailures: 5, coolDownMs: 5_000, probesToClose: 1, isFailure: (err) => !(err instanceof HiveError && err.code === 'INVALID_CONFIG'), ...(options.breaker ?? {}) },
        { clock: this.clock, ...(options.metrics !== undefined && { metrics: options.metrics }) },
      );
    }
  }

  /** One embedding per text, in order; throws (and returns nothing) when any batch fails. */
  async embed(texts: readonly string[]): Promise<Float32Array[]> {
    const batches: Promise<Float32Array[]>[] = [];
    for (let i = 0; i < texts.length; i += this.batchSize) batches.push(this.slot(() => this.embedBatch(texts.slice(i, i + this.batchSize))));
    const settled = await Promise.allSettled(batches);
    const failed = settled.find((s) => s.status === 'rejected');
    if (failed !== undefined) throw toHiveError(failed.reason);
    return settled.flatMap((s) => (s as PromiseFulfilledResult<Float32Array[]>).value);
  }

  /** Runs `fn` when one of the `concurrency` slots is free. */
  private async slot<T>(fn: () => Promise<T>): Promise<T> {
    if (this.running >= this.concurrency) await new Promise<void>((r) => this.queue.push(r));
    this.running++;
    try {
      return await fn();
    } finally {
      this.running--;
      this.queue.shift()?.();
    }
  }

  private async embedBatch(texts: string[]): Promise<Float32Array[]> {
    for (let attempt = 1; ; attempt++) {
      try {
        return this.breaker === undefined ? await this.post(texts) : await this.breaker.call((signal) => this.post(texts, signal));
      } catch (err) {
        if (!(err instanceof RetryableHttpError) || attempt >= this.attempts) {
          if (err instanceof RetryableHttpError) throw new UnavailableError(`embedder at ${this.endpoint} failed ${attempt} times: ${err.message}`, { cause: err, retryable: true });
          throw err;
        }
        const delay = err.retryAfterMs ?? this.backoff.delayFor(attempt);
        await new Promise<void>((r) => this.clock.setTimeout(r, delay));
      }
    }
  }

  private async post(texts: string[], outer?: AbortSignal): Promise<Float32Array[]> {
    const signal = outer === undefined ? AbortSignal.timeout(this.timeoutMs) : AbortSignal.any([outer, AbortSignal.timeout(this.timeoutMs)]);
    const headers: Record<string, string> = { 'content-type': 'application/json', accept: 'application/json' };
    if (this.o.apiKey !== undefined && this.o.apiKey !== '') headers['authorization'] = `Bearer ${this.o.apiKey}`;
    let res: Response;
    try {
      res = await fetch(this.endpoint, { method: 'POST', headers, body: JSON.stringify({ model: this.o.model, input: texts, encoding_format: 'float' }), signal });
    } catch (err) {
      const why = signal.aborted ? `no answer within ${this.timeoutMs} ms` : ((err as Error).cause as Error | undefined)?.message ?? (err as Error).message;
      throw new RetryableHttpError(why, undefined);
    }
    if (res.status === 429 || res.status >= 500) {
      const retryAfter = Number(res.headers.get('retry-after'));
      await res.body?.cancel().catch(() => undefined);
      throw new RetryableHttpError(`HTTP ${res.status}`, Number.isFinite(retryAfter) && retryAfter > 0 ? Math.min(60_000, retryAfter * 1000) : undefined);
    }
    if (!res.ok) {
      const text = (await res.text().catch(() => '')).slice(0, 300);
      throw new HiveError('INVALID_CONFIG', `embedder at ${this.endpoint} refused the request (HTTP ${res.status}): ${text}`, { details: { option: 'embedder', status: res.status } });
    }
    let body: unknown;
    try {
      body = await res.json();
    } catch (err) {
      throw new RetryableHttpError(`answer is not JSON: ${(err as Error).message}`, undefined);
    }
    return this.parse(body, texts.length);
  }

  /** The embeddings of an answer `{ data: [{ index, embedding }] }`, checked. */
  private parse(body: unknown, expected: number): Float32Array[] {
    const data = (body as { data?: unknown } | null)?.data;
    if (!Array.isArray(data) || data.length !== expected) {
      throw new HiveError('INTERNAL', `embedder at ${this.endpoint} answered ${Array.isArray(data) ? data.length : 'no'} embeddings for ${expected} texts`, { details: { option: 'embedder' } });
    }
    const out = new Array<Float32Array>(expected);
    for (let i = 0; i < data.length; i++) {
      const item = data[i] as { index?: unknown; embedding?: unknown } | null;
      const index = typeof item?.index === 'number' ? item.index : i;
      const e = item?.embedding;
      if (!Array.isArray(e) || index < 0 || index >= expected || out[index] !== undefined) {
        throw new HiveError('INTERNAL', `embedder at ${this.endpoint} answered a malformed embedding at data[${i}]`, { details: { option: 'embedder' } });
      }
      if (e.length !== this.dims) {
        throw new HiveError(
          'INVALID_CONFIG',
          `embedder model "${this.o.model}" at ${this.endpoint} answers ${e.length}-dimension embeddings, but memory keeps ${this.dims}: set the memory dims (and embedder dims) to ${e.length}, or use a model of ${this.dims} dimensions`,
          { details: { option: 'embedder.dims', answered: e.length, expected: this.dims } },
        );
      }
      const v = new Float32Array(this.dims);
      for (let j = 0; j < e.length; j++) {
        const x = e[j] as unknown;
        if (typeof x !== 'number' || !Number.isFinite(x)) throw new HiveError('INTERNAL', `embedder at ${this.endpoint} answered a non-finite value at data[${i}].embedding[${j}]`, { details: { option: 'embedder' } });
        v[j] = x;
      }
      out[index] = v;
    }
    this.checked = true;
    return out;
  }

  /** Whether an answer has confirmed the model's dimension. */
  get verified(): boolean {
    return this.checked;
  }

  dispose(): void {
    this.breaker?.dispose();
  }
}
