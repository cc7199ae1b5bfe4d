// Benchmark runner: `npm run bench -- <name> [args]` runs bench/<name>.ts (which exports
// `run(args)`); with no name it lists the benchmarks available.
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { ServiceMissing } from '../test/support/services.js';

/** What every benchmark module exports. */
export interface BenchModule {
  run(args: string[]): Promise<unknown>;
}

const here = dirname(fileURLToPath(import.meta.url));
const NOT_BENCHMARKS = new Set(['run', 'util']);

/** Names of the benchmarks in bench/ (every `.ts` module except the runner and the helpers). */
export function benchmarkNames(): string[] {
  return readdirSync(here)
    .filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts') && !f.startsWith('_'))
    .map((f) => f.slice(0, -3))
    .filter((n) => !NOT_BENCHMARKS.has(n))
    .sort();
}

/** The first line of a module's header comment (its one-line description). */
function describe(name: string): string {
  const first = readFileSync(join(here, `${name}.ts`), 'utf8').split('\n', 1)[0] ?? '';
  return first.startsWith('//') ? first.replace(/^\/\/\s*/, '') : '';
}

function list(): void {
  const names = benchmarkNames();
  console.log('usage: npm run bench -- <name> [args]\n');
  if (names.length === 0) {
    console.log('no benchmarks yet');
    return;
  }
  const width = Math.max(...names.map((n) => n.length));
  for (const n of names) console.log(`  ${n.padEnd(width)}  ${describe(n)}`);
}

async function main(argv: string[]): Promise<number> {
  const [name, ...args] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'list') {
    list();
    return 0;
  }
  if (!benchmarkNames().includes(name)) {
    console.error(`unknown benchmark "${name}"\n`);
    list();
    return 2;
  }
  const mod = (await import(pathToFileURL(join(here, `${name}.ts`)).href)) as Partial<BenchModule>;
  if (typeof mod.run !== 'function') {
    console.error(`bench/${name}.ts does not export run(args)`);
    return 2;
  }
  await mod.run(args);
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    // a missing service is one line naming it and how to get it; anything else keeps its stack
    console.error(err instanceof ServiceMissing ? `bench ${process.argv[2] ?? ''}: ${err.message}` : err);
    process.exitCode = 1;
  },
);
