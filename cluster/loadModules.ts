// Loading the user's setup modules into a node (`--load` and `hive.config.{ts,js,mjs}`): each exports a
// default function `(hive) => void | Promise<void>` that registers kinds and pools, as moleculer-runner
// loads service files. TypeScript modules load through tsx.
import { existsSync } from 'node:fs';
import { extname, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { HiveError } from '../protocols/errors.js';
import type { Hive } from './Hive.js';

/** What a setup module exports by default. */
export type HiveSetup = (hive: Hive) => void | Promise<void>;

/** The config file names looked for in the working folder, in order. */
export const CONFIG_FILES = ['hive.config.ts', 'hive.config.mjs', 'hive.config.js'];

/** A setup module that could not be loaded or whose setup threw. */
export class ModuleLoadError extends HiveError {
  constructor(message: string, options: { cause?: unknown; details?: Record<string, unknown> } = {}) {
    super('MODULE_LOAD', message, options);
  }
}

/** The config file in `cwd`, if any. */
export function findConfigFile(cwd: string): string | undefined {
  for (const name of CONFIG_FILES) {
    const p = resolve(cwd, name);
    if (existsSync(p)) return p;
  }
  return undefined;
}

/** Imports `path` and runs its default export against `hive`. Throws {@link ModuleLoadError} naming the module. */
export async function loadSetupModule(hive: Hive, path: string): Promise<void> {
  const abs = resolve(path);
  if (!existsSync(abs)) throw new ModuleLoadError(`cannot load ${path}: no such file`, { details: { module: path } });
  const ext = extname(abs);
  if (!['.js', '.mjs', '.cjs', '.ts', '.mts', '.cts'].includes(ext)) {
    throw new ModuleLoadError(`cannot load ${path}: expected a .js, .mjs or .ts module`, { details: { module: path } });
  }
  let mod: { default?: unknown };
  try {
    if (ext === '.ts' || ext === '.mts' || ext === '.cts') {
      const { tsImport } = await import('tsx/esm/api');
      mod = (await tsImport(pathToFileURL(abs).href, import.meta.url)) as { default?: unknown };
    } else {
      mod = (await import(pathToFileURL(abs).href)) as { default?: unknown };
    }
  } catch (err) {
    throw new ModuleLoadError(`cannot load ${path}: ${err instanceof Error ? err.message : String(err)}`, { cause: err, details: { module: path } });
  }
  // tsx may wrap a module's default export once more
  let setup = mod.default;
  if (typeof setup === 'object' && setup !== null && typeof (setup as { default?: unknown }).default === 'function') setup = (setup as { default: unknown }).default;
  if (typeof setup !== 'function') {
    throw new ModuleLoadError(`cannot load ${path}: its default export must be a function (hive) => void, got ${typeof setup}`, { details: { module: path } });
  }
  try {
    await (setup as HiveSetup)(hive);
  } catch (err) {
    throw new ModuleLoadError(`setup of ${path} failed: ${err instanceof Error ? err.message : String(err)}`, { cause: err, details: { module: path } });
  }
}
