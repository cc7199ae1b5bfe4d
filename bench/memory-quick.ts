// A quick ingestion throughput check on real PostgreSQL + pgvector (not a test, not the full benchmark):
// PgStore's staged binary COPY pipeline against naive one-row INSERTs of the same documents, side by side.
// Run: node --import tsx -e "import('./bench/memory-quick.ts').then(m=>m.run(process.argv.slice(1)))" -- [flags]
// Flags: --docs 20000 --naive 2000 --dims 384 --workers <n> --batch <n> --url <postgres-url> --index --direct
import { performance } from 'node:perf_hooks';
import { finished } from 'node:stream/promises';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { PgStore } from '../actors/memory/PgStore.js';
import { validateDocument, type DocumentInput, type ValidDocument } from '../actors/memory/Document.js';
import { DOCUMENT_COLUMNS, encodeDocumentBatch, toDocumentBatch } from '../actors/memory/documentBatch.js';
import { probePostgres, requireService } from '../test/support/services.js';

interface Args {
  docs: number;
  naive: number;
  dims: number;
  workers: number | undefined;
  batch: number | undefined;
  url: string;
  /** Ingest with the HNSW index already there (default: build it after the load). */
  index: boolean;
  /** Try COPY straight into the table first (falls back to staging on duplicates). */
  direct: boolean;
}

function parseArgs(argv: readonly string[]): Args {
  const get = (name: string) => {
    const i = argv.indexOf(`--${name}`);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const num = (name: string, fallback?: number) => {
    const v = get(name);
    return v === undefined ? fallback : Number(v);
  };
  return {
    docs: num('docs', 20_000)!,
    naive: num('naive', 2_000)!,
    dims: num('dims', 384)!,
    workers: num('workers'),
    batch: num('batch'),
    url: get('url') ?? process.env['HIVE_BENCH_DATABASE'] ?? 'postgres://postgres@127.0.0.1:5432/test',
    index: argv.includes('--index'),
    direct: argv.includes('--direct'),
  };
}

/** Deterministic PRNG (mulberry32). */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const WORDS = 'agent memory vector search cluster node actor message pool balance supervisor breaker latency throughput document embedding index query result task'.split(' ');

/** `n` documents with clustered random unit vectors and ~300-character texts. */
export function makeDocuments(n: number, dims: number, namespace: string, seed = 1): DocumentInput[] {
  const rand = rng(seed);
  const gauss = () => Math.sqrt(-2 * Math.log(rand() || 1e-12)) * Math.cos(2 * Math.PI * rand());
  const centers = Array.from({ length: 50 }, () => Float32Array.from({ length: dims }, gauss));
  const docs: DocumentInput[] = [];
  for (let i = 0; i < n; i++) {
    const c = centers[i % centers.length];
    const v = new Float32Array(dims);
    let norm = 0;
    for (let j = 0; j < dims; j++) {
      v[j] = c[j] + 0.5 * gauss();
      norm += v[j] * v[j];
    }
    const inv = 1 / Math.sqrt(norm);
    for (let j = 0; j < dims; j++) v[j] *= inv;
    let content = `doc ${i}:`;
    while (content.length < 300) content += ` ${WORDS[Math.floor(rand() * WORDS.length)]}`;
    docs.push({ id: `doc-${i}`, namespace, content, metadata: { cluster: i % centers.length, n: i }, embedding: v });
  }
  return docs;
}

/** Runs the check and prints docs/s for both paths, their ratio, and one raw binary COPY stream for reference. */
export async function run(argv: readonly string[] = []): Promise<{ copyDocsPerSec: number; naiveDocsPerSec: number; rawCopyDocsPerSec: number; ratio: number }> {
  const args = parseArgs(argv);
  requireService(await probePostgres(args.url, { vector: true }));
  const schema = `hive_bench_${process.pid}_${Date.now().toString(36)}`;
  const docs = makeDocuments(args.docs, args.dims, 'bench');
  const store = new PgStore({
    url: args.url,
    dims: args.dims,
    schema,
    deferIndex: !args.index,
    directCopy: args.direct,
    ...(args.workers === undefined ? {} : { workers: args.workers }),
    ...(args.batch === undefined ? {} : { ingestBatchDocs: args.batch }),
  });
  const admin = new pg.Client({ connectionString: args.url });
  await admin.connect();
  try {
    await store.init();
    // Warm-up: start worker threads and sessions (not counted).
    await store.ingest(makeDocuments(200, args.dims, 'warmup', 2));

    const t0 = performance.now();
    const result = await store.ingest(docs);
    const copyMs = performance.now() - t0;
    const copyDocsPerSec = result.inserted / (copyMs / 1000);
    console.log(
      `PgStore ingest (${args.direct ? 'direct-first' : 'staged'} binary COPY${args.index ? ', HNSW present' : ''}): ${result.inserted} docs × ${args.dims}-d in ${copyMs.toFixed(0)} ms = ${Math.round(copyDocsPerSec).toLocaleString('en-US')} docs/s (batches of ${args.batch ?? 1000})`,
    );

    const t1 = performance.now();
    const again = await store.ingest(docs.slice(0, Math.min(5000, docs.length)));
    console.log(`redelivery of ${again.duplicates} docs: inserted ${again.inserted}, ${((performance.now() - t1) / 1000).toFixed(2)} s`);

    if (!args.index) {
      const t2 = performance.now();
      await store.ensureIndex();
      console.log(`HNSW build (m 16, ef_construction 64) over ${result.inserted + 200} docs: ${((performance.now() - t2) / 1000).toFixed(1)} s`);
    }

    // Naive: one INSERT per document, text vector, same table shape (no HNSW index, like the COPY run).
    await admin.query(`CREATE TABLE "${schema}".naive (LIKE "${schema}".memory_documents INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING INDEXES)`);
    await admin.query(`DROP INDEX IF EXISTS "${schema}".naive_embedding_idx`);
    const naiveDocs = docs.slice(0, args.naive);
    const t3 = performance.now();
    for (const d of naiveDocs) {
      await admin.query(`INSERT INTO "${schema}".naive (namespace, id, content, metadata, embedding, created_at) VALUES ($1, $2, $3, $4, $5::halfvec, now())`, [
        d.namespace,
        d.id,
        d.content,
        JSON.stringify(d.metadata),
        `[${Array.from(d.embedding).join(',')}]`,
      ]);
    }
    const naiveMs = performance.now() - t3;
    const naiveDocsPerSec = naiveDocs.length / (naiveMs / 1000);
    console.log(`naive one-row INSERT: ${naiveDocs.length} docs in ${naiveMs.toFixed(0)} ms = ${Math.round(naiveDocsPerSec).toLocaleString('en-US')} docs/s`);
    // Reference: the same rows as one binary COPY stream straight into a table like ours (no staging, no
    // conflict handling, encoded up front): about what `psql \copy (FORMAT binary)` does on this machine now.
    await admin.query(`CREATE TABLE "${schema}".raw (LIKE "${schema}".naive INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING INDEXES)`);
    const valid = docs.map((d, i) => validateDocument(d, { dims: args.dims, maxContentBytes: 1 << 20 }, i)).filter((r): r is ValidDocument => r.ok);
    const raw = encodeDocumentBatch(toDocumentBatch(valid, args.dims, 'halfvec'));
    const t4 = performance.now();
    const stream = admin.query(copyFrom(`COPY "${schema}".raw (${DOCUMENT_COLUMNS.join(', ')}) FROM STDIN WITH (FORMAT binary)`));
    stream.end(raw);
    await finished(stream);
    const rawMs = performance.now() - t4;
    const rawCopyDocsPerSec = valid.length / (rawMs / 1000);
    console.log(`reference, one raw binary COPY stream of the same rows: ${Math.round(rawCopyDocsPerSec).toLocaleString('en-US')} docs/s`);

    const ratio = copyDocsPerSec / naiveDocsPerSec;
    console.log(`ratio: ${ratio.toFixed(1)}x naive INSERT (target ≥ 30x); ${(copyDocsPerSec / rawCopyDocsPerSec).toFixed(2)}x one raw COPY stream`);
    return { copyDocsPerSec, naiveDocsPerSec, rawCopyDocsPerSec, ratio };
  } finally {
    await store.close();
    await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`).catch(() => undefined);
    await admin.end();
  }
}
