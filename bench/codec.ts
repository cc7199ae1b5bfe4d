// Frame codec benchmark: Hive binary frames vs JSON.stringify/JSON.parse on a task message and a context message.
//
// Usage: npm run bench -- codec [--duration=ms] [--rounds=n] [--sweep]
//   --duration  measured time per candidate per round (default 1500 ms, after a 300 ms warm-up each)
//   --rounds    rounds (default 3); within a round JSON and Hive take turns in 50 ms slices so both see the
//               same machine load; the median round counts
//   --sweep     also measure every deflate level and threshold choice (how the codec defaults were picked)
//
// Messages (deterministic, seeded):
//   task     a tell envelope: ~2 KB of English-like prompt text, 10 small metadata fields and a 384-d
//            embedding (Float32Array in the Hive frame; a number array in JSON, as JSON users send it)
//   context  a tell envelope: ~64 KB conversation transcript (turns with role, text, time, tokens) and metadata
// One operation is encode + decode of the whole message: `codec.decode(codec.encode(m))` against
// `JSON.parse(JSON.stringify(m))` (JSON's bytes counted as UTF-8; its UTF-8 encode/decode is not charged to
// it in the ratios, a row shows that cost separately). Writes bench/results/codec.json.
import { existsSync, readFileSync } from 'node:fs';
import { deflateRawSync, inflateRawSync } from 'node:zlib';
import { deflateSync, inflateSync } from 'fflate';
import { Packr } from 'msgpackr';
import { FrameCodec, defaultFrameOptions, type FrameOptions } from '../protocols/frame.js';
import { embedding, hexId, interleave, median, numberArg, parseArgs, printTable, prose, rng, round, writeResults } from './util.js';

const SLICE_MS = 50;
const TARGETS = { task_bytes_vs_json: 0.4, task_throughput_vs_json: 8, context_bytes_vs_json: 0.45 } as const;

/** The task message: Hive form (Float32Array) and JSON form (number array), same content. */
export function taskMessage(seed = 0x7a5c): { hive: object; json: object } {
  const next = rng(seed);
  const vec = embedding(next, 384);
  const event = {
    type: 'task.submit',
    taskId: `task-${hexId(next, 16)}`,
    tenant: 'acme-corp',
    pool: 'research-agents',
    agentKind: 'researcher',
    priority: 3,
    attempt: 1,
    createdAt: 1_764_230_000_000 + Math.floor(next() * 1e7),
    deadlineMs: 30_000,
    traceId: hexId(next, 32),
    model: 'gpt-4o-mini',
    prompt: prose(next, 2048),
  };
  return {
    hive: { v: 1, k: 't', e: { ...event, embedding: vec } },
    json: { v: 1, k: 't', e: { ...event, embedding: Array.from(vec) } },
  };
}

/** The context message: a ~64 KB conversation transcript plus metadata (no binary parts). */
export function contextMessage(seed = 0xc0de, transcriptBytes = 64 * 1024): object {
  const next = rng(seed);
  const turns: Array<{ role: string; text: string; at: number; tokens: number; name?: string }> = [];
  let at = 1_764_230_000_000;
  let size = 0;
  const add = (role: string, chars: number, name?: string): void => {
    const text = prose(next, chars);
    at += 500 + Math.floor(next() * 60_000);
    const turn: { role: string; text: string; at: number; tokens: number; name?: string } = { role, text, at, tokens: Math.ceil(text.length / 4) };
    if (name !== undefined) turn.name = name;
    turns.push(turn);
    size += text.length;
  };
  add('system', 600);
  while (size < transcriptBytes) {
    add('user', 80 + Math.floor(next() * 700));
    if (next() < 0.3) add('tool', 200 + Math.floor(next() * 1300), next() < 0.5 ? 'search_memory' : 'fetch_document');
    add('assistant', 300 + Math.floor(next() * 1700));
  }
  return {
    v: 1,
    k: 't',
    e: {
      type: 'context.update',
      conversationId: `conv-${hexId(next, 16)}`,
      agentId: `agent-${hexId(next, 8)}`,
      tenant: 'acme-corp',
      model: 'gpt-4o-mini',
      turnCount: turns.length,
      totalTokens: turns.reduce((a, t) => a + t.tokens, 0),
      updatedAt: at,
      turns,
    },
  };
}

const utf8 = new TextEncoder();
const utf8d = new TextDecoder();

interface Case {
  name: string;
  hive: object;
  json: object;
}

interface Row {
  jsonBytes: number;
  hiveBytes: number;
  compressed: boolean;
  jsonOps: number[];
  hiveOps: number[];
}

function deepEqualish(a: unknown, b: unknown): boolean {
  return JSON.stringify(a, (_k, v: unknown) => (v instanceof Float32Array ? Array.from(v) : v)) === JSON.stringify(b, (_k, v: unknown) => (v instanceof Float32Array ? Array.from(v) : v));
}

/** Runs the codec benchmark (see the module header). */
export async function run(args: string[]): Promise<void> {
  const opts = parseArgs(args);
  const durationMs = numberArg(opts, 'duration', 1500);
  const rounds = Math.max(1, Math.round(numberArg(opts, 'rounds', 3)));
  const warmupMs = 300;

  const task = taskMessage();
  const context = contextMessage();
  const cases: Case[] = [
    { name: 'task', hive: task.hive, json: task.json },
    { name: 'context', hive: context, json: context },
  ];
  const codec = new FrameCodec();

  // Correctness first: a benchmark of a broken round trip is worthless.
  for (const c of cases) {
    const back = codec.decode(codec.encode(c.hive)) as { e: { embedding?: unknown } };
    if (!deepEqualish(back, c.hive)) throw new Error(`${c.name}: the Hive frame does not round-trip`);
    if (c.name === 'task' && !(back.e.embedding instanceof Float32Array)) throw new Error('task: the embedding did not come back as a Float32Array');
  }

  const rows = new Map<string, Row>();
  for (const c of cases) {
    const frame = codec.encode(c.hive);
    rows.set(c.name, {
      jsonBytes: utf8.encode(JSON.stringify(c.json)).length,
      hiveBytes: frame.length,
      compressed: (frame[1] & 0x10) !== 0,
      jsonOps: [],
      hiveOps: [],
    });
  }
  const utf8Ops: number[] = [];

  console.log(
    `codec benchmark: ${rounds} round(s); in each, JSON and Hive take turns in ${SLICE_MS} ms slices until each ran ${durationMs} ms (after ${warmupMs} ms warm-up)\n`,
  );
  for (let r = 0; r < rounds; r++) {
    for (const c of cases) {
      const row = rows.get(c.name)!;
      const m = c.json;
      const h = c.hive;
      const candidates: Record<string, () => unknown> = {
        json: () => JSON.parse(JSON.stringify(m)) as unknown,
        hive: () => codec.decode(codec.encode(h)),
      };
      // What JSON costs when its text is also turned into bytes and back, as on a real wire.
      if (c.name === 'task') candidates['jsonUtf8'] = () => JSON.parse(utf8d.decode(utf8.encode(JSON.stringify(m))));
      const got = interleave(candidates, { warmupMs, durationMs, sliceMs: SLICE_MS });
      row.jsonOps.push(got['json'].opsPerSec);
      row.hiveOps.push(got['hive'].opsPerSec);
      if (got['jsonUtf8']) utf8Ops.push(got['jsonUtf8'].opsPerSec);
    }
    process.stdout.write(`  round ${r + 1}/${rounds} done\n`);
  }

  const table: Array<Array<string | number>> = [];
  const results: Record<string, unknown> = {};
  for (const [name, row] of rows) {
    const j = median(row.jsonOps);
    const h = median(row.hiveOps);
    table.push([name, 'JSON', row.jsonBytes, j, 1e6 / j, '', '']);
    table.push([name, row.compressed ? 'Hive frame (deflated)' : 'Hive frame', row.hiveBytes, h, 1e6 / h, row.hiveBytes / row.jsonBytes, h / j]);
    results[name] = {
      json: { bytes: row.jsonBytes, opsPerSec: Math.round(j), roundsOpsPerSec: row.jsonOps.map(Math.round) },
      hive: { bytes: row.hiveBytes, compressed: row.compressed, opsPerSec: Math.round(h), roundsOpsPerSec: row.hiveOps.map(Math.round) },
    };
  }
  const tj = median(rows.get('task')!.jsonOps);
  const u = median(utf8Ops);
  table.push(['task', 'JSON + UTF-8 bytes', rows.get('task')!.jsonBytes, u, 1e6 / u, '', '']);
  console.log('');
  printTable(['message', 'codec', 'bytes', 'encode+decode/s', 'µs/op', 'bytes vs JSON', 'speed vs JSON'], table);

  const task_ = rows.get('task')!;
  const ctx = rows.get('context')!;
  const ratios = {
    task_bytes_vs_json: round(task_.hiveBytes / task_.jsonBytes, 3),
    task_throughput_vs_json: round(median(task_.hiveOps) / tj, 2),
    context_bytes_vs_json: round(ctx.hiveBytes / ctx.jsonBytes, 3),
    context_throughput_vs_json: round(median(ctx.hiveOps) / median(ctx.jsonOps), 2),
  };
  const pass = {
    task_bytes_vs_json: ratios.task_bytes_vs_json <= TARGETS.task_bytes_vs_json,
    task_throughput_vs_json: ratios.task_throughput_vs_json >= TARGETS.task_throughput_vs_json,
    context_bytes_vs_json: ratios.context_bytes_vs_json <= TARGETS.context_bytes_vs_json,
  };
  console.log('');
  printTable(
    ['ratio', 'measured', 'target', 'met'],
    [
      ['task bytes vs JSON', ratios.task_bytes_vs_json, `<= ${TARGETS.task_bytes_vs_json}`, pass.task_bytes_vs_json ? 'yes' : 'NO'],
      ['task throughput vs JSON', ratios.task_throughput_vs_json, `>= ${TARGETS.task_throughput_vs_json}`, pass.task_throughput_vs_json ? 'yes' : 'NO'],
      ['context bytes vs JSON', ratios.context_bytes_vs_json, `<= ${TARGETS.context_bytes_vs_json}`, pass.context_bytes_vs_json ? 'yes' : 'NO'],
      ['context throughput vs JSON', ratios.context_throughput_vs_json, '-', '-'],
    ],
  );

  // How English-like the generated text is: its deflate ratio next to a real English text, if one is around.
  const sample = utf8.encode(prose(rng(1), 32 * 1024));
  const calibration: Record<string, number> = { generatedProseDeflateRatioL1: round(deflateSync(sample, { level: 1 }).length / sample.length) };
  const reference = '/usr/share/common-licenses/GPL-3';
  if (existsSync(reference)) {
    const real = utf8.encode(readFileSync(reference, 'utf8').slice(0, 32 * 1024));
    calibration['englishReferenceDeflateRatioL1'] = round(deflateSync(real, { level: 1 }).length / real.length);
  }
  console.log(
    `\ntext calibration (deflate level 1, 32 KB): generated prose ${calibration['generatedProseDeflateRatioL1']}` +
      (calibration['englishReferenceDeflateRatioL1'] !== undefined ? `, real English (GPL-3 text) ${calibration['englishReferenceDeflateRatioL1']}` : ''),
  );

  let sweep: unknown;
  if (opts.has('sweep')) sweep = runSweep(task.hive, context, Math.max(200, durationMs / 3), warmupMs);

  const path = writeResults('codec', {
    command: `npm run bench -- codec ${args.join(' ')}`.trim(),
    settings: { durationMs, warmupMs, rounds, frameOptions: defaultFrameOptions },
    ratios,
    targets: { task_bytes_vs_json: '<= 0.40', task_throughput_vs_json: '>= 8', context_bytes_vs_json: '<= 0.45' },
    met: pass,
    messages: results,
    taskJsonWithUtf8: { opsPerSec: Math.round(u) },
    calibration,
    ...(sweep === undefined ? {} : { sweep }),
  });
  console.log(`\nwrote ${path}`);
}

/** Every deflate level, and the compression threshold choices, on both messages (encode+decode/s and bytes). */
function runSweep(task: object, context: object, durationMs: number, warmupMs: number): unknown {
  const out: Array<Record<string, unknown>> = [];
  const table: Array<Array<string | number>> = [];
  const variants: Array<{ label: string; msg: string; value: object; options: Partial<FrameOptions> }> = [];
  variants.push({ label: 'never compress', msg: 'task', value: task, options: { compressLevel: 0 } });
  for (const level of [1, 2, 3, 4, 6, 9]) {
    variants.push({ label: `threshold 1 KiB, level ${level}`, msg: 'task', value: task, options: { compressThresholdBytes: 1024, compressLevel: level } });
  }
  variants.push({ label: 'never compress', msg: 'context', value: context, options: { compressLevel: 0 } });
  for (let level = 1; level <= 9; level++) variants.push({ label: `level ${level}`, msg: 'context', value: context, options: { compressLevel: level } });
  console.log(`\nsweep: encode, decode and encode+decode of each variant; the variants of a message take turns in ${SLICE_MS} ms slices, ${durationMs} ms each`);
  for (const msg of ['task', 'context']) {
    const group = variants.filter((v) => v.msg === msg);
    const candidates: Record<string, () => unknown> = {};
    const frames = new Map<string, Uint8Array>();
    for (const v of group) {
      const codec = new FrameCodec(v.options);
      const frame = codec.encode(v.value);
      frames.set(v.label, frame);
      candidates[`${v.label}|enc`] = () => codec.encode(v.value);
      candidates[`${v.label}|dec`] = () => codec.decode(frame);
      candidates[`${v.label}|both`] = () => codec.decode(codec.encode(v.value));
    }
    const got = interleave(candidates, { warmupMs: Math.min(warmupMs, 100), durationMs, sliceMs: SLICE_MS });
    for (const v of group) {
      const frame = frames.get(v.label)!;
      const enc = got[`${v.label}|enc`];
      const dec = got[`${v.label}|dec`];
      const both = got[`${v.label}|both`];
      const compressed = (frame[1] & 0x10) !== 0;
      table.push([v.msg, v.label, compressed ? 'yes' : 'no', frame.length, enc.meanUs, dec.meanUs, both.opsPerSec]);
      out.push({ message: v.msg, variant: v.label, options: v.options, compressed, bytes: frame.length, encodeUs: round(enc.meanUs, 2), decodeUs: round(dec.meanUs, 2), opsPerSec: Math.round(both.opsPerSec) });
    }
  }
  console.log('');
  printTable(['message', 'variant', 'deflated', 'bytes', 'encode µs', 'decode µs', 'encode+decode/s'], table);

  // The deflate implementation itself on the context body: fflate (what the codec uses) next to Node's zlib.
  const body = new Packr({ moreTypes: true, useRecords: false }).pack(context);
  const impl: Record<string, () => unknown> = {};
  for (const level of [1, 6] as const) {
    impl[`fflate deflateSync level ${level}`] = () => deflateSync(body, { level });
    impl[`node:zlib deflateRawSync level ${level}`] = () => deflateRawSync(body, { level });
  }
  const z = deflateSync(body, { level: 1 });
  impl['fflate inflateSync (unbounded)'] = () => inflateSync(z);
  impl['node:zlib inflateRawSync (bounded, used)'] = () => inflateRawSync(z, { maxOutputLength: defaultFrameOptions.maxMessageBytes });
  const got = interleave(impl, { warmupMs, durationMs });
  const implRows: Array<Array<string | number>> = [];
  const implOut: Array<Record<string, unknown>> = [];
  for (const [name, m] of Object.entries(got)) {
    const level = /level (\d)/.exec(name)?.[1];
    const bytes = level === undefined ? z.length : name.startsWith('fflate') ? deflateSync(body, { level: Number(level) as 1 | 6 }).length : deflateRawSync(body, { level: Number(level) }).length;
    implRows.push([name, body.length, bytes, m.meanUs, body.length / m.meanUs]);
    implOut.push({ implementation: name, inputBytes: body.length, compressedBytes: bytes, us: round(m.meanUs, 1) });
  }
  console.log(`\ndeflate implementations on the context body (${body.length} bytes):`);
  printTable(['implementation', 'raw bytes', 'deflated bytes', 'µs', 'MB/s (raw)'], implRows);
  return { variants: out, implementations: implOut };
}
