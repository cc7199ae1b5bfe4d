// The `--sweep` part of bench/codec.ts: every compression choice measured on the 64 KB context body, side by
// side in one run, so protocols/compression.ts's choice (native zlib raw deflate, level 1, 8 KiB threshold,
// sample above 64 KiB; brotli quality 1 written, deflate read and optional) can be checked and revisited. Measures, on the same msgpack body:
//   - fflate: deflateSync at levels 1-9, `mem` 0/4/8/12, with a preset dictionary (common English words and
//     msgpack keys), zlibSync (zlib wrapper + Adler-32), the streaming `Deflate` (16 KiB pushes), the async
//     `deflate` (a worker per call); inflateSync, inflateSync into a preallocated `out`, streaming `Inflate`
//     (the form a bounded fflate inflate needs), unzlibSync;
//   - Node's zlib: deflateRawSync at levels 1-9 (and memLevel 9, a dictionary), async deflateRaw (libuv
//     thread pool), inflateRawSync bounded by `maxOutputLength` (what the codec uses);
//   - brotli (built into Node's zlib) at quality 0-1, and its decompression;
//   - msgpack pack / unpack alone and JSON's round trip, for scale.
// Async forms are timed one call at a time and 4 in flight: wall µs per call, process CPU µs per call (all
// threads), and main-thread busy µs per call (event-loop utilization), which is what an async form saves.
import { performance } from 'node:perf_hooks';
import { brotliCompressSync, brotliDecompressSync, constants, deflateRaw, deflateRawSync, inflateRawSync } from 'node:zlib';
import { Deflate, Inflate, deflate as fflateDeflate, deflateSync, inflateSync, unzlibSync, zlibSync, type DeflateOptions } from 'fflate';
import { Packr } from 'msgpackr';
import { interleave, printTable, round } from '../util.js';

// The 150 most frequent English words (general word-frequency lists, not the benchmark's generator) and the
// msgpack encodings of the keys Hive envelopes and chat transcripts use. Deflate finds matches in a preset
// dictionary as if it preceded the data; the most useful strings go last (closest, cheapest distances).
const ENGLISH =
  'the of and to a in is you that it he was for on are as with his they I at be this have from or one had by word but not what all were we when your can said there use an each which she do how their if will up other about out many then them these so some her would make like him into time has look two more write go see number no way could people my than first water been call who oil its now find long down day did get come made may part over new sound take only little work know place year live me back give most very after thing our just name good sentence man think say great where help through much before line right too mean old any same tell boy follow came want show also around form three small set put end does another well large must big even such because turn here why ask went men read need land different home us move try kind hand picture again change off play spell air away animal house point page letter mother answer found study still learn should world';
const KEYS = ['v', 'k', 'e', 'c', 'd', 'type', 'role', 'text', 'content', 'name', 'tokens', 'at', 'user', 'assistant', 'system', 'tool', 'turns', 'model', 'tenant', 'agentId', 'conversationId'];

/** The preset dictionary measured with fflate's and zlib's `dictionary` option. */
export function presetDictionary(): Uint8Array {
  const keys = new Packr({ useRecords: false }).pack(KEYS.map((k) => ({ [k]: k })));
  const words = new TextEncoder().encode(`${ENGLISH} `);
  const out = new Uint8Array(keys.length + words.length);
  out.set(keys);
  out.set(words, keys.length);
  return out;
}

interface AsyncResult {
  wallUs: number;
  cpuUs: number;
  mainThreadUs: number;
}

/** Runs `start(done)` calls, `inFlight` at a time, for about `durationMs`; per-call wall, CPU and main-thread time. */
async function measureAsync(start: (done: () => void) => void, inFlight: number, durationMs: number): Promise<AsyncResult> {
  // warm-up
  await new Promise<void>((resolve) => {
    let left = 4;
    const next = (): void => (--left < 0 ? resolve() : start(next));
    next();
  });
  const elu0 = performance.eventLoopUtilization();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  let calls = 0;
  await new Promise<void>((resolve) => {
    let running = 0;
    const launch = (): void => {
      running++;
      start(() => {
        running--;
        calls++;
        if (performance.now() - t0 < durationMs) launch();
        else if (running === 0) resolve();
      });
    };
    for (let i = 0; i < inFlight; i++) launch();
  });
  const wall = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  const elu = performance.eventLoopUtilization(elu0);
  return { wallUs: (wall * 1000) / calls, cpuUs: (cpu.user + cpu.system) / calls, mainThreadUs: (elu.active * 1000) / calls };
}

/** The sweep (see the module header); returns the figures for bench/results/codec.json. */
export async function runSweep(context: object, durationMs: number, warmupMs: number): Promise<unknown> {
  const packr = new Packr({ moreTypes: true, useRecords: false, structuredClone: false, mapsAsObjects: true });
  const body = packr.pack(context);
  const jsonBytes = Buffer.byteLength(JSON.stringify(context));
  const dict = presetDictionary();
  const max = 8 * 1024 * 1024;

  const sizes: Record<string, number> = {};
  const sync: Record<string, () => unknown> = {
    'JSON round trip (stringify + bytes, parse)': () => JSON.parse(Buffer.from(JSON.stringify(context)).toString()) as unknown,
    'msgpack pack': () => packr.pack(context),
    'msgpack unpack': () => packr.unpack(body) as unknown,
  };
  const add = (name: string, fn: () => Uint8Array | undefined): void => {
    const out = fn();
    if (out !== undefined) sizes[name] = out.length;
    sync[name] = fn;
  };
  for (let level = 1; level <= 9; level++) add(`fflate deflateSync level ${level}`, () => deflateSync(body, { level: level as NonNullable<DeflateOptions['level']> }));
  for (const mem of [0, 4, 8, 12] as const) add(`fflate deflateSync level 1 mem ${mem}`, () => deflateSync(body, { level: 1, mem }));
  add('fflate deflateSync level 1 + dictionary', () => deflateSync(body, { level: 1, dictionary: dict }));
  add('fflate zlibSync level 1', () => zlibSync(body, { level: 1 }));
  add('fflate Deflate stream level 1 (16 KiB pushes)', () => {
    const chunks: Uint8Array[] = [];
    const d = new Deflate({ level: 1 }, (c) => chunks.push(c));
    for (let i = 0; i < body.length; i += 16 * 1024) d.push(body.subarray(i, Math.min(body.length, i + 16 * 1024)), i + 16 * 1024 >= body.length);
    return Buffer.concat(chunks);
  });
  for (const level of [1, 2, 4, 6, 9]) add(`zlib deflateRawSync level ${level}`, () => deflateRawSync(body, { level }));
  add('zlib deflateRawSync level 1 memLevel 9', () => deflateRawSync(body, { level: 1, memLevel: 9 }));
  add('zlib deflateRawSync level 1 + dictionary', () => deflateRawSync(body, { level: 1, dictionary: dict }));
  for (const q of [0, 1]) {
    add(`brotli quality ${q}`, () => brotliCompressSync(body, { params: { [constants.BROTLI_PARAM_QUALITY]: q, [constants.BROTLI_PARAM_SIZE_HINT]: body.length } }));
  }
  const z = deflateRawSync(body, { level: 1 });
  const zd = deflateRawSync(body, { level: 1, dictionary: dict });
  const zz = zlibSync(body, { level: 1 });
  const br = brotliCompressSync(body, { params: { [constants.BROTLI_PARAM_QUALITY]: 1 } });
  sync['zlib inflateRawSync, bounded (compressFormat deflate)'] = () => inflateRawSync(z, { maxOutputLength: max });
  sync['zlib inflateRawSync + dictionary, bounded'] = () => inflateRawSync(zd, { maxOutputLength: max, dictionary: dict });
  sync['fflate inflateSync (unbounded)'] = () => inflateSync(z);
  sync['fflate inflateSync into a preallocated out'] = () => inflateSync(z, { out: new Uint8Array(body.length) });
  sync['fflate Inflate stream, bounded by counting'] = () => {
    let n = 0;
    const chunks: Uint8Array[] = [];
    const inf = new Inflate((c) => {
      n += c.length;
      if (n > max) throw new Error('too large');
      chunks.push(c);
    });
    inf.push(z, true);
    return chunks.length;
  };
  sync['fflate unzlibSync'] = () => unzlibSync(zz);
  sync['brotli decompress (quality 1), bounded (the default)'] = () => brotliDecompressSync(br, { maxOutputLength: max });

  console.log(`\nsweep: compression choices on the 64 KB context body (${body.length} msgpack bytes, JSON ${jsonBytes}), taking turns in 30 ms slices, ${durationMs} ms each`);
  const got = interleave(sync, { warmupMs: Math.min(warmupMs, 150), durationMs, sliceMs: 30 });
  const table: Array<Array<string | number>> = [];
  const rows: Array<Record<string, unknown>> = [];
  for (const [name, m] of Object.entries(got)) {
    const bytes = sizes[name];
    table.push([name, bytes ?? '', bytes === undefined ? '' : round((bytes + 2) / jsonBytes, 3), m.meanUs, m.cpuUs ?? NaN, body.length / m.meanUs]);
    rows.push({ variant: name, bytes, frameBytesVsJson: bytes === undefined ? undefined : round((bytes + 2) / jsonBytes, 3), us: round(m.meanUs, 1), cpuUs: round(m.cpuUs ?? NaN, 1) });
  }
  console.log('');
  printTable(['variant', 'out bytes', 'frame vs JSON bytes', 'µs/call', 'CPU µs/call', 'MB/s of body'], table);

  // Async forms: what they take off the main thread, and what they cost in all.
  const asyncRows: Array<Record<string, unknown>> = [];
  const asyncTable: Array<Array<string | number>> = [];
  const forms: Record<string, (done: () => void) => void> = {
    'fflate deflate async (worker) level 1': (done) => {
      fflateDeflate(body, { level: 1 }, (err) => {
        if (err) throw err;
        done();
      });
    },
    'zlib deflateRaw async (thread pool) level 1': (done) => {
      deflateRaw(body, { level: 1 }, (err) => {
        if (err) throw err;
        done();
      });
    },
    'zlib deflateRawSync level 1 (for scale)': (done) => {
      deflateRawSync(body, { level: 1 });
      setImmediate(done);
    },
  };
  for (const [name, start] of Object.entries(forms)) {
    for (const inFlight of [1, 4]) {
      const r = await measureAsync(start, inFlight, Math.max(300, durationMs));
      asyncTable.push([name, inFlight, r.wallUs, r.cpuUs, r.mainThreadUs]);
      asyncRows.push({ variant: name, inFlight, wallUs: round(r.wallUs, 1), cpuUs: round(r.cpuUs, 1), mainThreadUs: round(r.mainThreadUs, 1) });
    }
  }
  console.log('');
  printTable(['async form', 'in flight', 'wall µs/call', 'CPU µs/call (all threads)', 'main thread µs/call'], asyncTable);
  return { bodyBytes: body.length, jsonBytes, sync: rows, async: asyncRows };
}
