// Child processes of the two-process benchmarks (bench/ask.ts, bench/stream.ts): start one and wait for the
// `"ready"` line it prints, stop it (stdin closed, SIGKILL after 10 s), and read its CPU time from /proc.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';

/** Starts `node <args>` in `cwd` and resolves once it printed a line with `"ready"` (30 s at most). */
export async function startReadyChild(args: readonly string[], cwd: string, what: string): Promise<ChildProcess> {
  const proc = spawn(process.execPath, [...args], { cwd, stdio: ['pipe', 'pipe', 'inherit'] });
  let buf = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the ${what} did not get ready within 30 s`)), 30_000);
    proc.stdout.setEncoding('utf8');
    proc.stdout.on('data', (chunk: string) => {
      buf += chunk;
      if (buf.includes('"ready"')) {
        clearTimeout(timer);
        resolve();
      }
    });
    proc.on('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`the ${what} exited (code ${String(code)}, signal ${String(signal)}) before it was ready`));
    });
    proc.on('error', reject);
  });
  return proc;
}

/** Stops a child: closes its stdin (it exits cleanly), SIGKILL after 10 s. */
export async function stopChild(proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  const exited = once(proc, 'exit');
  proc.stdin?.end();
  const timer = setTimeout(() => proc.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}

let clockTicks: number | undefined;

/** CPU time (user + system) of process `pid` so far, µs; NaN where /proc is not available. */
export function processCpuMicros(pid: number | undefined): number {
  if (pid === undefined) return NaN;
  try {
    clockTicks ??= Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1e6) / clockTicks;
  } catch {
    return NaN;
  }
}
