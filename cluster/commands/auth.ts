// `hive auth init`: writes a nats-server configuration with the roles node, client and admin (see
// ../authConfig.ts) and one env file per user, readable by their owner only.
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { InvalidArgumentError } from '../../protocols/errors.js';
import { buildUsers, envFile, serverConfig, type AuthSpec } from '../authConfig.js';
import type { CliIO } from '../cli.js';

/** Options of `hive auth init`. */
export interface AuthInitOptions {
  cluster: string;
  out: string;
  /** `name` or `name=ns1,ns2` (a client limited to those memory namespaces). */
  client?: string[];
  /** Written into the env files as HIVE_NATS_URL. */
  nats?: string;
  force?: boolean;
}

/** Parses `name` / `name=ns1,ns2` client arguments. */
export function parseClients(args: readonly string[] | undefined): AuthSpec['clients'] {
  if (args === undefined || args.length === 0) return undefined;
  return args.map((a) => {
    const eq = a.indexOf('=');
    if (eq < 0) return { name: a };
    const namespaces = a.slice(eq + 1).split(',').map((s) => s.trim()).filter(Boolean);
    if (namespaces.length === 0) throw new InvalidArgumentError(`--client ${a}: list namespaces after "=", e.g. alice=docs,notes`, { details: { client: a } });
    return { name: a.slice(0, eq), namespaces };
  });
}

/** Writes `nats-server.conf` and `<user>.env` files into `out`; resolves to the exit code. */
export function runAuthInit(raw: Record<string, unknown>, io: CliIO): number {
  const opts = raw as unknown as AuthInitOptions;
  const spec: AuthSpec = { cluster: opts.cluster };
  const clients = parseClients(opts.client);
  if (clients !== undefined) spec.clients = clients;
  const users = buildUsers(spec);
  const dir = resolve(opts.out);
  const files: Array<[string, string]> = [['nats-server.conf', serverConfig(spec, users)], ...users.map((u): [string, string] => [`${u.user}.env`, envFile(spec, u, opts.nats)])];
  if (opts.force !== true) {
    const existing = files.map(([f]) => join(dir, f)).filter((f) => existsSync(f));
    if (existing.length > 0) throw new InvalidArgumentError(`refusing to overwrite ${existing.join(', ')} (pass --force to replace them)`, { details: { existing } });
  }
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  for (const [f, text] of files) writeFileSync(join(dir, f), text, { mode: 0o600 });
  io.out(
    [
      `wrote ${join(dir, 'nats-server.conf')} and ${users.map((u) => `${u.user}.env`).join(', ')} (cluster ${spec.cluster})`,
      `  server   nats-server -c ${join(dir, 'nats-server.conf')} -js`,
      `  node     set -a; . ${join(dir, 'node.env')}; set +a; hive start`,
      `  admin    set -a; . ${join(dir, 'admin.env')}; set +a; hive status`,
      ...users.filter((u) => u.role === 'client').map((u) => `  ${u.user.padEnd(8)} set -a; . ${join(dir, `${u.user}.env`)}; set +a; hive ask <actor-id> '{"type":"ping"}'`),
      '',
    ].join('\n'),
  );
  return 0;
}
