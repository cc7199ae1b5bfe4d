// `hive ingest <file.jsonl>` and `hive search "<text>"`: the cluster's memory from the command line. Ingest
// streams a JSONL file in batches (a few requests in flight), shows progress on stderr (a live line on a TTY,
// a plain line every few seconds otherwise), and ends with a summary naming every rejected line and why.
import { createHash } from 'node:crypto';
import { createReadStream, statSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { NAMESPACE_PATTERN } from '../../actors/memory/Document.js';
import type { IngestedAnswer, QueuedAnswer } from '../../actors/memory/memoryProtocol.js';
import { InvalidArgumentError } from '../../protocols/errors.js';
import type { CliIO } from '../cli.js';
import { MemoryClient } from '../MemoryClient.js';
import { formatDuration, table } from './format.js';

/** One JSONL line that was not stored, and why. */
export interface LineRejection {
  line: number;
  id?: string;
  field?: string;
  reason: string;
}

/** A parsed JSONL line: a document to send, or a rejection. */
export type ParsedLine = { ok: true; doc: Record<string, unknown>; bytes: number } | { ok: false; rejection: LineRejection };

/**
 * The id given to a line without one: a hash of namespace and content, so ingesting the same file twice
 * stores nothing new (the second run counts duplicates).
 */
export function contentId(namespace: string, content: string): string {
  return createHash('sha256').update(namespace).update('\u0000').update(content).digest('hex').slice(0, 32);
}

/**
 * Parses one JSONL line into a document for `memory.ingest`: a JSON object with `content` and optionally
 * `id`, `namespace`, `metadata`, `embedding` (a number array, sent as a Float32Array). Malformed lines are
 * rejected with the line number and the reason; the server checks the document's fields.
 */
export function parseJsonlLine(text: string, line: number, namespace: string): ParsedLine | undefined {
  if (text.trim() === '') return undefined;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    return { ok: false, rejection: { line, reason: `not valid JSON: ${(err as Error).message}` } };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return { ok: false, rejection: { line, reason: `not a JSON object (got ${Array.isArray(value) ? 'an array' : value === null ? 'null' : typeof value})` } };
  }
  const doc = value as Record<string, unknown>;
  const ns = typeof doc['namespace'] === 'string' ? doc['namespace'] : namespace;
  if (doc['namespace'] === undefined) doc['namespace'] = namespace;
  const content = doc['content'];
  if ((doc['id'] === undefined || doc['id'] === null) && typeof content === 'string') doc['id'] = contentId(ns, content);
  const e = doc['embedding'];
  let bytes = 64 + text.length;
  if (Array.isArray(e) && e.every((x) => typeof x === 'number')) {
    doc['embedding'] = Float32Array.from(e);
    bytes = 64 + text.length - JSON.stringify(e).length + e.length * 4;
  }
  return { ok: true, doc, bytes };
}

/** Options of `hive ingest`. */
interface IngestOptions {
  cluster: string;
  nats?: string;
  namespace: string;
  batch: number;
  wait: boolean;
  timeout: number;
  json?: boolean;
}

function checkNamespace(ns: string): string {
  if (!NAMESPACE_PATTERN.test(ns)) throw new InvalidArgumentError(`option --namespace must match [A-Za-z0-9_-]{1,128}, got ${JSON.stringify(ns)}`, { details: { option: '--namespace' } });
  return ns;
}

/** Live progress on stderr: a rewritten line on a TTY, a plain line every few seconds otherwise. */
class Progress {
  private last = 0;
  private readonly started = Date.now();
  private shown = false;
  constructor(
    private readonly io: CliIO,
    private readonly tty: boolean,
    private readonly totalBytes: number,
  ) {}

  update(docs: number, bytesRead: number, force = false): void {
    const now = Date.now();
    if (!force && now - this.last < (this.tty ? 200 : 2000)) return;
    this.last = now;
    const secs = Math.max(0.001, (now - this.started) / 1000);
    const rate = docs / secs;
    const frac = this.totalBytes > 0 ? Math.min(1, bytesRead / this.totalBytes) : 1;
    const eta = frac > 0 && frac < 1 ? formatDuration(((now - this.started) * (1 - frac)) / frac) : '-';
    const text = `ingest: ${docs.toLocaleString('en-US')} docs, ${Math.round(rate).toLocaleString('en-US')} docs/s, ${Math.round(frac * 100)}%, ETA ${eta}`;
    if (this.tty) {
      this.io.err(`\r\x1b[2K${text}`);
      this.shown = true;
    } else this.io.err(`${text}\n`);
  }

  done(): void {
    if (this.tty && this.shown) this.io.err('\r\x1b[2K');
  }
}

/** `hive ingest <file.jsonl>`: returns 0 when every line was stored (or was already), 1 when some were rejected. */
export async function runIngest(file: string, raw: Record<string, unknown>, io: CliIO, tty = process.stderr.isTTY === true): Promise<number> {
  const o = raw as unknown as IngestOptions;
  const namespace = checkNamespace(o.namespace);
  let size: number;
  try {
    size = statSync(file).size;
  } catch (err) {
    throw new InvalidArgumentError(`cannot read ${file}: ${(err as Error).message}`, { details: { argument: '<file>' } });
  }
  const client = await MemoryClient.connect({ cluster: o.cluster, nats: o.nats });
  const rejected: LineRejection[] = [];
  let inserted = 0;
  let duplicates = 0;
  let queued = 0;
  let lines = 0;
  let bytesRead = 0;
  const started = Date.now();
  const progress = new Progress(io, tty, size);
  const maxBytes = Math.max(16 * 1024, Math.floor(client.maxPayload * 0.85));
  const inflight = new Set<Promise<void>>();
  let failure: Error | undefined;
  const send = (docs: Record<string, unknown>[], lineOf: number[]) => {
    const p = client
      .ingest(docs, { namespace, wait: o.wait, timeoutMs: o.timeout })
      .then((answer: IngestedAnswer | QueuedAnswer) => {
        if (answer.type === 'memory.ingested') {
          inserted += answer.inserted;
          duplicates += answer.duplicates;
        } else queued += answer.queued;
        for (const r of answer.rejected) {
          const rej: LineRejection = { line: lineOf[r.index] ?? -1, field: r.field, reason: r.reason };
          if (r.id !== undefined) rej.id = r.id;
          rejected.push(rej);
        }
        progress.update(inserted + duplicates + queued, bytesRead);
      })
      .catch((err: unknown) => {
        failure ??= err instanceof Error ? err : new Error(String(err));
      });
    inflight.add(p);
    void p.finally(() => inflight.delete(p));
  };
  try {
    const rl = createInterface({ input: createReadStream(file), crlfDelay: Infinity });
    let batch: Record<string, unknown>[] = [];
    let lineOf: number[] = [];
    let batchBytes = 0;
    for await (const text of rl) {
      lines++;
      bytesRead += Buffer.byteLength(text) + 1;
      if (failure !== undefined) break;
      const parsed = parseJsonlLine(text, lines, namespace);
      if (parsed === undefined) continue;
      if (!parsed.ok) {
        rejected.push(parsed.rejection);
        continue;
      }
      if (batch.length > 0 && (batch.length >= o.batch || batchBytes + parsed.bytes > maxBytes)) {
        send(batch, lineOf);
        batch = [];
        lineOf = [];
        batchBytes = 0;
        while (inflight.size >= 3) await Promise.race(inflight);
      }
      batch.push(parsed.doc);
      lineOf.push(lines);
      batchBytes += parsed.bytes;
    }
    if (batch.length > 0 && failure === undefined) send(batch, lineOf);
    await Promise.all(inflight);
  } finally {
    progress.done();
    await client.close();
  }
  if (failure !== undefined) throw failure;
  rejected.sort((a, b) => a.line - b.line);
  const secs = (Date.now() - started) / 1000;
  const stored = o.wait ? inserted + duplicates : queued;
  if (o.json === true) {
    io.out(`${JSON.stringify({ file, namespace, lines, inserted, duplicates, queued, rejected, seconds: secs })}\n`);
  } else {
    const rate = Math.round(stored / Math.max(secs, 0.001)).toLocaleString('en-US');
    const head = o.wait
      ? `ingested ${file}: ${inserted.toLocaleString('en-US')} stored, ${duplicates.toLocaleString('en-US')} duplicates, ${rejected.length.toLocaleString('en-US')} rejected`
      : `queued ${file}: ${queued.toLocaleString('en-US')} documents durably queued, ${rejected.length.toLocaleString('en-US')} rejected`;
    io.out(`${head} (${lines.toLocaleString('en-US')} lines, ${formatDuration(secs * 1000)}, ${rate} docs/s)\n`);
    if (rejected.length > 0) {
      io.out('rejected:\n');
      for (const r of rejected.slice(0, 50)) io.out(`  line ${r.line}${r.id !== undefined ? ` (id ${r.id})` : ''}: ${r.field !== undefined ? `${r.field}: ` : ''}${r.reason}\n`);
      if (rejected.length > 50) io.out(`  ... and ${rejected.length - 50} more (use --json for all)\n`);
    }
  }
  return rejected.length > 0 ? 1 : 0;
}

/** Collapses whitespace and cuts to `max` characters. */
export function excerpt(text: string, max = 72): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length <= max ? flat : `${flat.slice(0, max - 1)}…`;
}

/** `hive search "<text>"`: a table of score, id and a content excerpt (or JSON with --json). */
export async function runSearch(text: string, raw: Record<string, unknown>, io: CliIO): Promise<number> {
  const namespace = checkNamespace(String(raw['namespace']));
  if (text.trim() === '') throw new InvalidArgumentError('the search text is empty', { details: { argument: '<text>' } });
  let filter: Record<string, unknown> | undefined;
  if (typeof raw['filter'] === 'string') {
    try {
      filter = JSON.parse(raw['filter']) as Record<string, unknown>;
    } catch (err) {
      throw new InvalidArgumentError(`option --filter is not valid JSON: ${(err as Error).message}`, { details: { option: '--filter' } });
    }
    if (typeof filter !== 'object' || filter === null || Array.isArray(filter)) throw new InvalidArgumentError('option --filter must be a JSON object', { details: { option: '--filter' } });
  }
  const client = await MemoryClient.connect({ cluster: String(raw['cluster']), nats: raw['nats'] as string | undefined });
  let hits;
  try {
    const query: { text: string; namespace: string; k: number; filter?: Record<string, unknown> } = { text, namespace, k: raw['k'] as number };
    if (filter !== undefined) query.filter = filter;
    hits = (await client.search(query, raw['timeout'] as number)).hits;
  } finally {
    await client.close();
  }
  if (raw['json'] === true) {
    io.out(`${JSON.stringify({ namespace, hits })}\n`);
    return 0;
  }
  if (hits.length === 0) {
    io.out(`no results in namespace ${namespace}\n`);
    return 0;
  }
  io.out(table(['SCORE', 'ID', 'CONTENT'], hits.map((h) => [h.score.toFixed(3), h.id.length > 36 ? `${h.id.slice(0, 35)}…` : h.id, excerpt(h.content)])));
  return 0;
}
