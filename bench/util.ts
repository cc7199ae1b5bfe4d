// Shared benchmark helpers: a timing loop, percentiles, aligned tables, JSON results under bench/results/,
// and deterministic fixtures (seeded PRNG, English-like prose, unit-length embeddings).
import { mkdirSync, writeFileSync } from 'node:fs';
import { arch, cpus, platform } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The folder benchmark results are written to (`bench/results/`). */
export const RESULTS_DIR = join(dirname(fileURLToPath(import.meta.url)), 'results');

/**
 * Writes `data` as pretty JSON to `bench/results/<name>.json` (creating the folder), adding a `machine`
 * block (node version, CPU, cores) and a `date` unless the data has them.
 * @returns the path written.
 */
export function writeResults(name: string, data: Record<string, unknown>): string {
  mkdirSync(RESULTS_DIR, { recursive: true });
  const path = join(RESULTS_DIR, `${name}.json`);
  const full = { benchmark: name, date: new Date().toISOString(), machine: machineInfo(), ...data };
  writeFileSync(path, `${JSON.stringify(full, null, 2)}\n`);
  return path;
}

/** What the figures were measured on. */
export function machineInfo(): Record<string, unknown> {
  const cpu = cpus();
  return { node: process.version, platform: platform(), arch: arch(), cpu: cpu[0]?.model ?? 'unknown', cores: cpu.length };
}

/**
 * The `p`-th percentile (0-100) of `values` by linear interpolation between closest ranks.
 * @returns NaN for an empty list.
 */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = (Math.min(100, Math.max(0, p)) / 100) * (sorted.length - 1);
  const lo = Math.floor(rank);
  const hi = Math.ceil(rank);
  const a = sorted[lo];
  const b = sorted[hi];
  return a + (b - a) * (rank - lo);
}

/** The median of `values` (NaN when empty). */
export function median(values: readonly number[]): number {
  return percentile(values, 50);
}

/** Options of {@link measure}. */
export interface MeasureOptions {
  /** Time spent running the function before measuring (JIT warm-up), ms. Default 300. */
  warmupMs?: number;
  /** Measured time, ms. Default 1500. */
  durationMs?: number;
  /** Target length of one timed batch, ms (the batch size is calibrated to it). Default 5. */
  batchMs?: number;
}

/** What {@link measure} found. */
export interface Measurement {
  /** Calls made in the measured period. */
  ops: number;
  /** Measured wall time, ms. */
  elapsedMs: number;
  /** Calls per second over the measured period. */
  opsPerSec: number;
  /** Mean time per call, µs. */
  meanUs: number;
  /** Per-call time of each timed batch (µs): the spread between batches, for percentiles. */
  batchUs: number[];
  /**
   * Mean process CPU time (user + system, `process.cpuUsage()`) per call, µs; set by {@link interleave}.
   * Steadier than wall time on a loaded machine: time the process spent waiting for a core is not in it.
   */
  cpuUs?: number;
}

/**
 * Runs `fn` repeatedly: first for `warmupMs` without measuring, then in calibrated batches for about
 * `durationMs`, and reports calls/s. `fn` should return something derived from its work so the JIT cannot
 * drop it; the results are folded into a sink.
 */
export function measure(fn: () => unknown, options: MeasureOptions = {}): Measurement {
  const warmupMs = options.warmupMs ?? 300;
  const durationMs = options.durationMs ?? 1500;
  const batchMs = options.batchMs ?? 5;
  let sink = 0;
  const take = (r: unknown): void => {
    sink = (sink + (typeof r === 'number' ? r : r === undefined || r === null ? 0 : 1)) | 0;
  };
  // Warm-up, also calibrating the batch size.
  let batch = 1;
  const warmEnd = performance.now() + warmupMs;
  while (performance.now() < warmEnd) {
    const t0 = performance.now();
    for (let i = 0; i < batch; i++) take(fn());
    const dt = performance.now() - t0;
    if (dt < batchMs) batch = Math.min(batch * 2, 1 << 24);
  }
  const batchUs: number[] = [];
  let ops = 0;
  const start = performance.now();
  let now = start;
  while (now - start < durationMs) {
    const t0 = now;
    for (let i = 0; i < batch; i++) take(fn());
    now = performance.now();
    ops += batch;
    batchUs.push(((now - t0) * 1000) / batch);
  }
  const elapsedMs = now - start;
  sinkHole ^= sink;
  return { ops, elapsedMs, opsPerSec: (ops * 1000) / elapsedMs, meanUs: (elapsedMs * 1000) / ops, batchUs };
}

/** Options of {@link interleave}. */
export interface InterleaveOptions {
  /** Warm-up time per candidate, ms. Default 300. */
  warmupMs?: number;
  /** Measured time per candidate, ms. Default 1500. */
  durationMs?: number;
  /** Length of one turn of a candidate, ms: candidates take turns so all see the same machine load. Default 50. */
  sliceMs?: number;
}

/**
 * Measures several candidates side by side: after a warm-up each, they take turns in short slices until
 * each has run about `durationMs`, so a load change on a shared machine hits all of them alike.
 * @returns one {@link Measurement} per candidate (`batchUs` holds the per-call time of each slice).
 */
export function interleave(candidates: Record<string, () => unknown>, options: InterleaveOptions = {}): Record<string, Measurement> {
  const warmupMs = options.warmupMs ?? 300;
  const durationMs = options.durationMs ?? 1500;
  const sliceMs = options.sliceMs ?? 50;
  const names = Object.keys(candidates);
  const state = names.map((name) => {
    const fn = candidates[name];
    // Warm up and calibrate a batch of about 1 ms.
    const w = measure(fn, { warmupMs, durationMs: 1, batchMs: 1 });
    return { name, fn, batch: Math.max(1, Math.round(w.ops / Math.max(w.elapsedMs, 1e-3))), ops: 0, elapsedMs: 0, cpuUs: 0, sliceUs: [] as number[] };
  });
  let sink = 0;
  while (state.some((c) => c.elapsedMs < durationMs)) {
    for (const c of state) {
      if (c.elapsedMs >= durationMs) continue;
      const cpu0 = process.cpuUsage();
      const t0 = performance.now();
      let now = t0;
      let ops = 0;
      while (now - t0 < sliceMs) {
        for (let i = 0; i < c.batch; i++) if (c.fn() !== undefined) sink++;
        ops += c.batch;
        now = performance.now();
      }
      const cpu = process.cpuUsage(cpu0);
      c.cpuUs += cpu.user + cpu.system;
      c.ops += ops;
      c.elapsedMs += now - t0;
      c.sliceUs.push(((now - t0) * 1000) / ops);
    }
  }
  sinkHole ^= sink;
  const out: Record<string, Measurement> = {};
  for (const c of state) {
    out[c.name] = { ops: c.ops, elapsedMs: c.elapsedMs, opsPerSec: (c.ops * 1000) / c.elapsedMs, meanUs: (c.elapsedMs * 1000) / c.ops, batchUs: c.sliceUs, cpuUs: c.cpuUs / c.ops };
  }
  return out;
}

/** Keeps benchmark results observable so the JIT cannot treat the measured work as dead. */
export let sinkHole = 0;

/** A column of {@link printTable}: a header and whether it is right-aligned (numbers). */
export interface Column {
  header: string;
  align?: 'left' | 'right';
}

/** Prints rows as an aligned text table (numbers right-aligned by default, text left-aligned). */
export function printTable(columns: ReadonlyArray<Column | string>, rows: ReadonlyArray<ReadonlyArray<string | number>>): void {
  const cols = columns.map((c) => (typeof c === 'string' ? { header: c } : c));
  const cells = rows.map((r) => r.map((v) => (typeof v === 'number' ? formatNumber(v) : v)));
  const widths = cols.map((c, i) => Math.max(c.header.length, ...cells.map((r) => (r[i] ?? '').length)));
  const alignOf = (i: number): 'left' | 'right' => cols[i]?.align ?? (rows.some((r) => typeof r[i] === 'number') ? 'right' : 'left');
  const line = (vals: readonly string[]): string =>
    vals.map((v, i) => (alignOf(i) === 'right' ? v.padStart(widths[i]) : v.padEnd(widths[i]))).join('  ').trimEnd();
  console.log(line(cols.map((c) => c.header)));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const r of cells) console.log(line(r));
}

/** A number for a table: integers with thousands separators, others with 3 significant decimals. */
export function formatNumber(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  if (Number.isInteger(v) || Math.abs(v) >= 1000) return Math.round(v).toLocaleString('en-US');
  if (Math.abs(v) >= 100) return v.toFixed(1);
  if (Math.abs(v) >= 1) return v.toFixed(2);
  return v.toFixed(3);
}

/** Rounds to `digits` decimals (for JSON results). */
export function round(v: number, digits = 3): number {
  const f = 10 ** digits;
  return Math.round(v * f) / f;
}

/** Parses `--key=value` / `--flag` arguments into a map (a bare `--flag` is `'true'`). */
export function parseArgs(args: readonly string[]): Map<string, string> {
  const out = new Map<string, string>();
  for (const a of args) {
    if (!a.startsWith('--')) continue;
    const eq = a.indexOf('=');
    if (eq === -1) out.set(a.slice(2), 'true');
    else out.set(a.slice(2, eq), a.slice(eq + 1));
  }
  return out;
}

/** A numeric `--key=value` argument, or `fallback`. */
export function numberArg(args: Map<string, string>, key: string, fallback: number): number {
  const v = args.get(key);
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isFinite(n)) throw new Error(`--${key} must be a number, got ${JSON.stringify(v)}`);
  return n;
}

// ---------------------------------------------------------------------------------------------
// Deterministic fixtures

export { rng } from '../test/support/rng.js';

// About 600 English words, roughly in order of frequency (common function words first, then the
// vocabulary of an agent system's prompts). Sampled with a Zipf law over this rank order.
const WORDS = (
  'the of and to a in is that for it as was with be by on not he this are or his from at which but have an ' +
  'they you were her she there one all we their been has would will more if no when what so can who said about ' +
  'into than them some could other these then its only two also time any may new like our first should after how ' +
  'over most such where through those being each very well because must before just many between under while last ' +
  'data model agent task user system result value request response service memory context query document text ' +
  'message error report summary answer question information process number example order customer account ' +
  'support issue policy price product team project plan review change update version release feature test ' +
  'analysis research source reference section table figure note point case option problem reason step ' +
  'approach method function output input field record entry list item group level state status priority ' +
  'quality performance latency throughput cost budget risk impact decision recommendation evidence claim ' +
  'detail description instruction requirement constraint assumption limit threshold window interval ' +
  'schedule deadline meeting email invoice contract payment refund shipment delivery warehouse inventory ' +
  'region market revenue growth quarter forecast trend signal metric dashboard alert incident outage ' +
  'database index cache queue stream batch worker node cluster network connection timeout retry failure ' +
  'please provide explain describe compare identify list include consider review check verify confirm ensure ' +
  'use make find give take keep show help need want know think see look come go get tell ask work call try ' +
  'feel become leave put mean let begin seem turn start run move live believe bring happen write sit stand ' +
  'lose pay meet learn lead understand watch follow stop create speak read allow add spend grow open walk ' +
  'win offer remember love appear buy wait serve die send expect build stay fall cut reach kill remain ' +
  'suggest raise pass sell require decide return hold report pull continue set change develop carry break ' +
  'good great high small large long little own old right big different important young early able public ' +
  'bad same few possible sure clear recent available likely free real main full special certain hard ' +
  'current specific relevant accurate detailed brief short previous following additional final total ' +
  'average maximum minimum internal external primary secondary common simple complex critical urgent ' +
  'people year way day man thing woman life child world school family student group country hand part place ' +
  'week company where government night home water room mother area money story fact month lot right study ' +
  'book eye job word business side kind head house friend hour game line end member law car city community ' +
  'name president minute idea kid body back parent face others level office door health person art war ' +
  'history party morning age air teacher force education foot boy food energy music class ' +
  'often never always sometimes usually again still already also even here now today later soon ' +
  'however therefore although because since unless whether until though instead otherwise ' +
  'engineering finance legal marketing sales operations security compliance privacy governance ' +
  'customer supplier vendor partner manager analyst engineer director owner reviewer operator ' +
  'latest three four five several hundred thousand million percent per approximately roughly nearly'
).split(' ');

/** Cumulative Zipf weights over WORDS' ranks (exponent 1.0, like natural language). */
const ZIPF_CDF: Float64Array = (() => {
  const w = WORDS.map((_, i) => 1 / (i + 2.7));
  const total = w.reduce((a, b) => a + b, 0);
  const cdf = new Float64Array(w.length);
  let acc = 0;
  for (let i = 0; i < w.length; i++) {
    acc += w[i] / total;
    cdf[i] = acc;
  }
  return cdf;
})();

function zipfWord(next: () => number): string {
  const u = next();
  let lo = 0;
  let hi = ZIPF_CDF.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (ZIPF_CDF[mid] < u) lo = mid + 1;
    else hi = mid;
  }
  return WORDS[lo];
}

/** One English-like sentence (6-24 words, commas, occasional numbers, a full stop or question mark). */
export function sentence(next: () => number): string {
  const n = 6 + Math.floor(next() * 19);
  const words: string[] = [];
  for (let i = 0; i < n; i++) {
    let w: string;
    const r = next();
    if (r < 0.025) w = String(Math.floor(next() * (next() < 0.5 ? 100 : 100_000)));
    else if (r < 0.035) w = `${(next() * 100).toFixed(1)}%`;
    else w = zipfWord(next);
    if (i > 1 && i < n - 2 && next() < 0.07) w += ',';
    words.push(w);
  }
  const first = words[0];
  words[0] = first.charAt(0).toUpperCase() + first.slice(1);
  return `${words.join(' ')}${next() < 0.12 ? '?' : '.'}`;
}

/**
 * English-like prose of about `bytes` characters (ASCII, so bytes = characters): sentences in
 * paragraphs of 2-6, deterministic for a given PRNG state. Compresses with deflate about like real
 * English text (see bench/codec.ts, which prints the comparison).
 */
export function prose(next: () => number, bytes: number): string {
  const parts: string[] = [];
  let len = 0;
  let inPara = 0;
  let paraLen = 2 + Math.floor(next() * 5);
  while (len < bytes) {
    const s = sentence(next);
    const sep = parts.length === 0 ? '' : inPara === 0 ? '\n\n' : ' ';
    parts.push(sep + s);
    len += sep.length + s.length;
    if (++inPara >= paraLen) {
      inPara = 0;
      paraLen = 2 + Math.floor(next() * 5);
    }
  }
  return parts.join('').slice(0, bytes);
}

/** A unit-length embedding of `dim` float32 values (approximately Gaussian components). */
export function embedding(next: () => number, dim: number): Float32Array {
  const v = new Float32Array(dim);
  let norm = 0;
  for (let i = 0; i < dim; i++) {
    // Irwin-Hall approximation of a standard normal.
    const g = next() + next() + next() + next() + next() + next() - 3;
    v[i] = g;
    norm += g * g;
  }
  const inv = 1 / Math.sqrt(norm);
  for (let i = 0; i < dim; i++) v[i] = v[i] * inv;
  return v;
}

/** A random lowercase hex id of `length` characters. */
export function hexId(next: () => number, length: number): string {
  let s = '';
  for (let i = 0; i < length; i++) s += Math.floor(next() * 16).toString(16);
  return s;
}
