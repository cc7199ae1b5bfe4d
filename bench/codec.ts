// Frame codec benchmark: Hive binary frames vs JSON (stringify + UTF-8 bytes, parse) on task and context messages.
//
// Usage: npm run bench -- codec [--duration=ms] [--rounds=n] [--sweep]
//   --duration  measured time per candidate per round (default 1500 ms, after a 300 ms warm-up each)
//   --rounds    rounds (default 3); within a round the candidates take turns in 50 ms slices so all see the
//               same machine load; the median round counts
//   --sweep     also measure the compression choices: fflate's levels, `mem`, dictionary, zlib wrapper,
//               streaming and async (worker) forms next to Node's zlib (sync, async, levels, dictionary) and
//               brotli, on the 64 KB context body (how protocols/compression.ts was chosen)
//
// Messages (deterministic, seeded):
//   task        a tell envelope: ~2 KB of English-like prompt text, 10 small metadata fields and a 384-d
//               embedding (Float32Array in the Hive frame; a number array in JSON, as JSON users send it)
//   context16k, context64k, context256k
//               a tell envelope: a conversation transcript of ~16, 64 or 256 KB (turns with role, text, time,
//               tokens) and metadata; context64k is the headline (agents pass contexts of this size)
// One operation is encode + decode of the whole message: `codec.decode(codec.encode(m))` against
// `JSON.parse(Buffer.from(JSON.stringify(m)).toString())` (JSON as it crosses a wire: UTF-8 bytes, the
// baseline of every ratio), with JSON's string-only round trip, Hive with compressFormat 'deflate', and
// Hive's uncompressed frame (what the in-process transport does: it never compresses) as extra rows. Throughput is wall-clock; CPU µs/op is
// `process.cpuUsage()` per call, steadier on a loaded machine. Writes bench/results/codec.json.
import { existsSync, readFileSync } from 'node:fs';
import { deflateSync } from 'fflate';
import { FrameCodec, defaultFrameOptions } from '../protocols/frame.js';
import { runSweep } from './support/codecSweep.js';
import { embedding, hexId, interleave, median, numberArg, parseArgs, printTable, prose, rng, round, writeResults } from './util.js';

const SLICE_MS = 50;
const TARGETS = { task_bytes_vs_json: 0.4, task_throughput_vs_json: 8, context_bytes_vs_json: 0.45, context_throughput_vs_json: 1 } as const;

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

interface Case {
  name: string;
  hive: object;
  json: object;
}

interface Row {
  jsonBytes: number;
  hiveBytes: number;
  rawBytes: number;
  deflateBytes: number;
  compressed: boolean;
  format: string;
  ops: Record<string, number[]>;
  cpu: Record<string, number[]>;
}

const CANDIDATES = ['json', 'jsonText', 'hive', 'hiveDeflate', 'hiveRaw'] as const;
type Candidate = (typeof CANDIDATES)[number];
const LABEL: Record<Candidate, string> = {
  json: 'JSON (stringify + UTF-8 bytes, parse)',
  jsonText: 'JSON text only (no bytes)',
  hive: 'Hive frame',
  hiveDeflate: 'Hive frame, compressFormat deflate',
  hiveRaw: 'Hive frame, never compressed',
};

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
  const cases: Case[] = [{ name: 'task', hive: task.hive, json: task.json }];
  for (const kb of [16, 64, 256]) {
    const m = contextMessage(0xc0de, kb * 1024);
    cases.push({ name: `context${kb}k`, hive: m, json: m });
  }
  const codec = new FrameCodec();
  const raw = new FrameCodec({ compressLevel: 0 });
  const deflate = new FrameCodec({ compressFormat: 'deflate' });

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
      rawBytes: raw.encode(c.hive).length,
      deflateBytes: deflate.encode(c.hive).length,
      compressed: (frame[1] & 0x30) !== 0,
      format: frame[1] & 0x20 ? 'brotli' : frame[1] & 0x10 ? 'deflate' : 'none',
      ops: {},
      cpu: {},
    });
  }

  console.log(
    `codec benchmark: ${rounds} round(s); in each, the candidates take turns in ${SLICE_MS} ms slices until each ran ${durationMs} ms (after ${warmupMs} ms warm-up)\n`,
  );
  for (let r = 0; r < rounds; r++) {
    for (const c of cases) {
      const row = rows.get(c.name)!;
      const m = c.json;
      const h = c.hive;
      const candidates: Record<Candidate, () => unknown> = {
        json: () => JSON.parse(Buffer.from(JSON.stringify(m)).toString()) as unknown,
        jsonText: () => JSON.parse(JSON.stringify(m)) as unknown,
        hive: () => codec.decode(codec.encode(h)),
        hiveDeflate: () => deflate.decode(deflate.encode(h)),
        hiveRaw: () => raw.decode(raw.encode(h)),
      };
      const got = interleave(candidates, { warmupMs, durationMs, sliceMs: SLICE_MS });
      for (const k of CANDIDATES) {
        (row.ops[k] ??= []).push(got[k].opsPerSec);
        (row.cpu[k] ??= []).push(got[k].cpuUs ?? NaN);
      }
    }
    process.stdout.write(`  round ${r + 1}/${rounds} done\n`);
  }

  const table: Array<Array<string | number>> = [];
  const results: Record<string, unknown> = {};
  for (const [name, row] of rows) {
    const j = median(row.ops.json);
    const jc = median(row.cpu.json);
    const out: Record<string, unknown> = {};
    for (const k of CANDIDATES) {
      const ops = median(row.ops[k]);
      const cpu = median(row.cpu[k]);
      const bytes = k === 'hive' ? row.hiveBytes : k === 'hiveRaw' ? row.rawBytes : k === 'hiveDeflate' ? row.deflateBytes : row.jsonBytes;
      const label = k === 'hive' && row.compressed ? `${LABEL.hive} (${row.format})` : LABEL[k];
      table.push([name, label, bytes, round(bytes / row.jsonBytes, 3), ops, round(ops / j, 2), cpu, round(jc / cpu, 2)]);
      out[k] = { bytes, opsPerSec: Math.round(ops), cpuUsPerOp: round(cpu, 1), roundsOpsPerSec: row.ops[k].map(Math.round), ...(k === 'hive' ? { compressed: row.compressed, format: row.format } : {}) };
    }
    results[name] = out;
  }
  console.log('');
  printTable(['message', 'codec', 'bytes', 'bytes vs JSON', 'encode+decode/s', 'speed vs JSON', 'CPU µs/op', 'CPU vs JSON (x faster)'], table);

  const t = rows.get('task')!;
  const ctx = rows.get('context64k')!;
  const speed = (row: Row, k: Candidate, base: Candidate = 'json'): number => round(median(row.ops[k]) / median(row.ops[base]), 2);
  const cpuSpeed = (row: Row, k: Candidate): number => round(median(row.cpu.json) / median(row.cpu[k]), 2);
  const ratios = {
    task_bytes_vs_json: round(t.hiveBytes / t.jsonBytes, 3),
    task_throughput_vs_json: speed(t, 'hive'),
    task_throughput_vs_json_text: speed(t, 'hive', 'jsonText'),
    context_bytes_vs_json: round(ctx.hiveBytes / ctx.jsonBytes, 3),
    context_throughput_vs_json: speed(ctx, 'hive'),
    context_cpu_vs_json: cpuSpeed(ctx, 'hive'),
    context_throughput_vs_json_text: speed(ctx, 'hive', 'jsonText'),
    context_deflate_throughput_vs_json: speed(ctx, 'hiveDeflate'),
    context_deflate_bytes_vs_json: round(ctx.deflateBytes / ctx.jsonBytes, 3),
    context_uncompressed_throughput_vs_json: speed(ctx, 'hiveRaw'),
    context_uncompressed_bytes_vs_json: round(ctx.rawBytes / ctx.jsonBytes, 3),
  };
  const pass = {
    task_bytes_vs_json: ratios.task_bytes_vs_json <= TARGETS.task_bytes_vs_json,
    task_throughput_vs_json: ratios.task_throughput_vs_json >= TARGETS.task_throughput_vs_json,
    context_bytes_vs_json: ratios.context_bytes_vs_json <= TARGETS.context_bytes_vs_json,
    context_throughput_vs_json: ratios.context_throughput_vs_json >= TARGETS.context_throughput_vs_json,
  };
  const yes = (b: boolean): string => (b ? 'yes' : 'NO');
  console.log('');
  printTable(
    ['ratio', 'measured', 'target', 'met'],
    [
      ['task bytes vs JSON', ratios.task_bytes_vs_json, `<= ${TARGETS.task_bytes_vs_json}`, yes(pass.task_bytes_vs_json)],
      ['task throughput vs JSON', ratios.task_throughput_vs_json, `>= ${TARGETS.task_throughput_vs_json}`, yes(pass.task_throughput_vs_json)],
      ['context 64 KB bytes vs JSON', ratios.context_bytes_vs_json, `<= ${TARGETS.context_bytes_vs_json}`, yes(pass.context_bytes_vs_json)],
      ['context 64 KB throughput vs JSON', ratios.context_throughput_vs_json, `>= ${TARGETS.context_throughput_vs_json}`, yes(pass.context_throughput_vs_json)],
      ['context 64 KB CPU per op vs JSON (x faster)', ratios.context_cpu_vs_json, '-', '-'],
      ['context 64 KB with compressFormat deflate, throughput vs JSON', ratios.context_deflate_throughput_vs_json, '-', '-'],
      ['context 64 KB uncompressed (in-process) throughput vs JSON', ratios.context_uncompressed_throughput_vs_json, '-', '-'],
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
  if (opts.has('sweep')) sweep = await runSweep(cases.find((c) => c.name === 'context64k')!.hive, Math.max(200, durationMs / 3), warmupMs);

  const path = writeResults('codec', {
    command: `npm run bench -- codec ${args.join(' ')}`.trim(),
    settings: { durationMs, warmupMs, rounds, frameOptions: defaultFrameOptions },
    baseline: 'JSON.parse(Buffer.from(JSON.stringify(m)).toString()); *_vs_json_text: JSON.parse(JSON.stringify(m))',
    ratios,
    targets: { task_bytes_vs_json: '<= 0.40', task_throughput_vs_json: '>= 8', context_bytes_vs_json: '<= 0.45', context_throughput_vs_json: '>= 1' },
    met: pass,
    messages: results,
    calibration,
    ...(sweep === undefined ? {} : { sweep }),
  });
  console.log(`\nwrote ${path}`);
}
