// Runs limiter node processes (test/support/limiterNode.ts) side by side and analyses their admissions: the
// cross-process limiter test and `npm run bench -- limiter` share it.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import type { LimiterOptions } from '../../actors/limits/limitOptions.js';

/** What one node process reports. */
export interface LimiterNodeResult {
  node: string;
  /** Epoch ms of each admission. */
  admitted: number[];
  /** Wait of each take, ms. */
  waits: number[];
}

/** One run: `nodes` processes, `submitters` loops each, from a common start for `durationMs`. */
export interface LimiterRun {
  url: string;
  cluster: string;
  nodes: number;
  name: string;
  limiter: LimiterOptions;
  /** Submitter loops per process (one number for all, or one per process). */
  submitters: number | number[];
  durationMs: number;
  paceMs?: number;
}

/** Starts the processes, gives them a common start once all serve, returns their reports and the start. */
export async function runLimiterNodes(run: LimiterRun): Promise<{ start: number; results: LimiterNodeResult[] }> {
  const script = join(import.meta.dirname, 'limiterNode.ts');
  const children = Array.from({ length: run.nodes }, (_, i) => {
    const submitters = typeof run.submitters === 'number' ? run.submitters : (run.submitters[i] ?? 1);
    const opts = { name: run.name, limiter: run.limiter, submitters, durationMs: run.durationMs, paceMs: run.paceMs ?? 0 };
    const child = spawn(process.execPath, ['--import', 'tsx', script, run.url, run.cluster, `lim${i}`, JSON.stringify(opts)], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    const ready = new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.includes('ready')) resolve();
      });
      child.once('exit', () => reject(new Error(`limiter node lim${i} exited before it was ready: ${err.slice(-2000)}`)));
    });
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const done = new Promise<LimiterNodeResult>((resolve, reject) => {
      child.once('error', reject);
      child.once('exit', (code) => {
        const line = out.split('\n').find((l) => l.startsWith('{'));
        if (code !== 0 || line === undefined) reject(new Error(`limiter node lim${i} exited with ${code}: ${err.slice(-2000)}`));
        else resolve(JSON.parse(line) as LimiterNodeResult);
      });
    });
    done.catch(() => undefined);
    return { child, ready, done };
  });
  try {
    await Promise.all(children.map((c) => c.ready));
  } catch (err) {
    for (const c of children) c.child.kill('SIGKILL');
    throw err;
  }
  const start = Date.now() + 200;
  for (const c of children) c.child.stdin?.end(`${start}\n`);
  return { start, results: await Promise.all(children.map((c) => c.done)) };
}

/**
 * The most admissions in any window of `windowMs` (sliding over every admission), less what the rate allows
 * in that window: at most the burst when the limit holds.
 */
export function maxExcess(admitted: readonly number[], perMs: number, windowMs: number): { max: number; excess: number } {
  const t = [...admitted].sort((a, b) => a - b);
  let j = 0;
  let max = 0;
  for (let i = 0; i < t.length; i++) {
    while ((t[i]) - (t[j]) >= windowMs) j++;
    max = Math.max(max, i - j + 1);
  }
  return { max, excess: max - perMs * windowMs };
}
