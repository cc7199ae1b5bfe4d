// Finding NATS for `hive start` with no --nats: a server already answering on 127.0.0.1:4222, or a
// `nats-server` from PATH started as a child process (JetStream on, store under the data folder).
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { Socket } from 'node:net';
import { join, resolve } from 'node:path';

/** The URL `hive` tries first. */
export const LOCAL_NATS_URL = 'nats://127.0.0.1:4222';

/** True when something accepts TCP connections at host:port. */
export function tcpOpen(host: string, port: number, timeoutMs = 300): Promise<boolean> {
  return new Promise((done) => {
    const s = new Socket();
    const finish = (ok: boolean) => {
      s.destroy();
      done(ok);
    };
    s.setTimeout(timeoutMs, () => finish(false));
    s.once('error', () => finish(false));
    s.connect(port, host, () => finish(true));
  });
}

/** A nats-server this process started; `stop()` ends it. */
export interface ChildNats {
  readonly url: string;
  readonly child: ChildProcess;
  stop(): Promise<void>;
}

/**
 * Starts `nats-server -js` from PATH on 127.0.0.1:`port` with its store under `<dataDir>/nats`.
 * Resolves once it accepts connections; undefined when no `nats-server` is on PATH or it does not come up.
 */
export async function startChildNats(dataDir: string, port = 4222): Promise<ChildNats | undefined> {
  const store = resolve(join(dataDir, 'nats'));
  mkdirSync(store, { recursive: true });
  // max_payload only from a config file: nats-server before 2.10 has no --max_payload flag (and exits)
  const config = join(store, 'nats-server.conf');
  writeFileSync(config, 'max_payload: 8MB\n');
  let child: ChildProcess;
  try {
    child = spawn('nats-server', ['-c', config, '-a', '127.0.0.1', '-p', String(port), '-js', '-sd', store], { stdio: 'ignore' });
  } catch {
    return undefined;
  }
  const failed = new Promise<boolean>((r) => {
    child.once('error', () => r(true));
    child.once('exit', () => r(true));
  });
  for (let i = 0; i < 100; i++) {
    const dead = await Promise.race([failed, new Promise<false>((r) => setTimeout(() => r(false), 50))]);
    if (dead) return undefined;
    if (await tcpOpen('127.0.0.1', port)) {
      return {
        url: `nats://127.0.0.1:${port}`,
        child,
        stop: () =>
          new Promise<void>((done) => {
            if (child.exitCode !== null || child.signalCode !== null) return done();
            child.once('exit', () => done());
            child.kill('SIGTERM');
          }),
      };
    }
  }
  child.kill('SIGKILL');
  return undefined;
}
