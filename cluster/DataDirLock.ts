// DataDirLock: one node per data folder. `hive start` takes `<dataDir>/hive.lock` (created exclusively, holding
// the pid, node id, host and start time) before it opens anything under the folder; a second node on the
// same folder is refused with a message saying to pass --data-dir. A lock whose process is gone (a node
// killed with -9) is stale: it is taken over.
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import { ConfigError } from '../protocols/errors.js';

/** The lock file's name inside the data folder. */
export const LOCK_FILE = 'hive.lock';

/** What a lock file holds. */
export interface LockOwner {
  pid: number;
  node: string;
  host: string;
  startedAt: number;
}

/** True when process `pid` runs on this host (EPERM: it runs under another user). */
function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function readOwner(path: string): LockOwner | undefined {
  try {
    const v = JSON.parse(readFileSync(path, 'utf8')) as Partial<LockOwner>;
    if (typeof v.pid !== 'number' || !Number.isSafeInteger(v.pid) || v.pid <= 0) return undefined;
    return { pid: v.pid, node: String(v.node ?? '?'), host: String(v.host ?? ''), startedAt: Number(v.startedAt ?? 0) };
  } catch {
    return undefined;
  }
}

/** The lock a node holds on its data folder; `release()` removes it (idempotent). */
export class DataDirLock {
  private released = false;

  private constructor(
    /** The lock file's absolute path. */
    readonly path: string,
    private readonly owner: LockOwner,
  ) {}

  /**
   * Takes the lock on `dataDir` for node `node` (creating the folder). Throws `INVALID_CONFIG` (option
   * `dataDir`) when a live process holds it; takes over a stale lock (its process is gone, or it is unreadable).
   */
  static acquire(dataDir: string, node: string): DataDirLock {
    const dir = resolve(dataDir);
    mkdirSync(dir, { recursive: true });
    const path = join(dir, LOCK_FILE);
    const owner: LockOwner = { pid: process.pid, node, host: hostname(), startedAt: Date.now() };
    for (let attempt = 0; attempt < 3; attempt++) {
      let fd: number;
      try {
        fd = openSync(path, 'wx');
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
        const held = readOwner(path);
        if (held !== undefined && held.pid !== process.pid && (held.host !== owner.host || processAlive(held.pid))) {
          throw new ConfigError(
            `data folder ${dir} is in use by node ${held.node} (pid ${held.pid}${held.host !== owner.host ? ` on ${held.host}` : ''}): pass --data-dir <another folder> (or HIVE_DATA_DIR) to run another node here`,
            { details: { option: 'dataDir', lock: path, pid: held.pid } },
          );
        }
        // stale (its process is gone), unreadable, or left by this very process: take it over
        rmSync(path, { force: true });
        continue;
      }
      try {
        writeSync(fd, `${JSON.stringify(owner)}\n`);
      } finally {
        closeSync(fd);
      }
      return new DataDirLock(path, owner);
    }
    throw new ConfigError(`could not take the lock ${path}: other processes keep taking it; pass --data-dir <another folder>`, { details: { option: 'dataDir', lock: path } });
  }

  /** Removes the lock file if it is still this node's. */
  release(): void {
    if (this.released) return;
    this.released = true;
    const held = readOwner(this.path);
    if (held !== undefined && held.pid === this.owner.pid && held.startedAt === this.owner.startedAt) rmSync(this.path, { force: true });
  }
}
