// End-to-end fixtures: the `hive` command as a separate process, run to completion or started as a node
// that is waited for until its banner says it started.
import { spawn, type ChildProcess } from 'node:child_process';
import { join, resolve } from 'node:path';

/** The repository root and its `hive` bin (the build that `npm test` makes first). */
export const repoRoot = resolve(import.meta.dirname, '../..');
const bin = join(repoRoot, 'bin', 'hive.js');

/** What a finished `hive` command printed, and its exit code. */
export interface HiveRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `hive <args>` to completion with environment `env`. */
export function runHive(args: string[], env: NodeJS.ProcessEnv = process.env): Promise<HiveRun> {
  return new Promise((done) => {
    const p = spawn(process.execPath, [bin, ...args], { cwd: repoRoot, env });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    p.on('close', (code) => done({ code, stdout, stderr }));
  });
}

/** A `hive start` process. */
export interface HiveNode {
  id: string;
  proc: ChildProcess;
  /** Everything it printed so far (stdout and stderr). */
  out: () => string;
  exited: Promise<number | null>;
}

/**
 * Starts `hive start --node-id <id> --log-level warn <args>` with fast heartbeats (and its HTTP endpoint on
 * any free port) and resolves once its
 * banner says it started (throws with its output if it exits or takes longer than `limitMs`).
 */
export async function startHiveNode(args: string[], id: string, env: NodeJS.ProcessEnv = process.env, limitMs = 30_000): Promise<HiveNode> {
  const proc = spawn(process.execPath, [bin, 'start', '--node-id', id, '--log-level', 'warn', ...args], {
    cwd: repoRoot,
    // tests always let the HTTP endpoint take any free port (never the documented default)
    env: { HIVE_HEARTBEAT_MS: '200', HIVE_FAILURE_AFTER_MS: '1500', HIVE_HTTP: '127.0.0.1:0', ...env },
  });
  let out = '';
  proc.stdout.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((r) => proc.on('close', (code) => r(code)));
  const node: HiveNode = { id, proc, out: () => out, exited };
  const end = Date.now() + limitMs;
  while (!out.includes(`hive node ${id} started`)) {
    if (proc.exitCode !== null) throw new Error(`node ${id} exited: ${out}`);
    if (Date.now() > end) {
      proc.kill('SIGKILL');
      throw new Error(`node ${id} did not start: ${out}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return node;
}

/** Sends `signal` to a node that still runs and waits for it to exit. */
export async function stopHiveNode(n: HiveNode, signal: NodeJS.Signals): Promise<void> {
  if (n.proc.exitCode === null && n.proc.signalCode === null) n.proc.kill(signal);
  await n.exited;
  assertNoUnhandled(n);
}

/** Throws when the node's process guard logged an unhandled rejection or uncaught exception (a bug it survived). */
export function assertNoUnhandled(n: HiveNode): void {
  const line = n.out().split('\n').find((l) => l.includes('"unhandled":'));
  if (line !== undefined) throw new Error(`node ${n.id} survived an unhandled error (a bug): ${line}`);
}
