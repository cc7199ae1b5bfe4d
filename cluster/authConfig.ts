// Roles on the bus, enforced by nats-server itself: the server configuration `hive auth init` writes (users
// with passwords and per-role publish/subscribe permissions) and one env file per user. Pure apart from the
// random passwords; the CLI command writes the files.
//
// Roles (cluster <c>):
// - node: everything (a node serves actors, runs JetStream queues and KV buckets, answers any inbox);
// - client: request actors (`hive.<c>.actor.>`), virtual actors (`hive.<c>.kind.>`), pools
//   (`hive.<c>.pool.>`), memory by namespace (`hive.<c>.memory.<namespace>`, all or the listed ones) and
//   cancel its own asks (`hive.<c>.sys.cancel`);
//   subscribe only to its own reply inbox prefix (`_INBOX_<user>.>`); nothing under `hive.<c>.sys.`, `task.`,
//   `$JS.`, `$KV.` and no other inbox;
// - admin: client, plus cluster status, spawn, pool resize (`hive.<c>.sys.…`) and the whole memory
//   (`hive.<c>.memory`: every namespace, deleting a namespace).
import { randomBytes } from 'node:crypto';
import { InvalidArgumentError } from '../protocols/errors.js';
import { assertToken } from '../protocols/subjects.js';

/** A role a NATS user is given. */
export type Role = 'node' | 'client' | 'admin';

/** One user of the generated configuration. */
export interface AuthUser {
  user: string;
  role: Role;
  password: string;
  /** The private reply inbox prefix (`_INBOX_<user>`); `undefined` for nodes (they may use any). */
  inboxPrefix: string | undefined;
  /** Memory namespaces a client may use (undefined: all). */
  namespaces?: string[];
  /** NATS permissions as they go into the server config. */
  permissions: { publish: { allow: string[]; deny?: string[] }; subscribe: { allow: string[]; deny?: string[] } };
}

/** What to generate: the cluster and its users. */
export interface AuthSpec {
  cluster: string;
  /** Client users, each optionally limited to some memory namespaces (default: one user `client`). */
  clients?: Array<{ name: string; namespaces?: string[] }>;
}

/** Subjects a client may never publish to (listed as explicit denies, on top of the allow list). */
function clientDenies(c: string): string[] {
  return [`hive.${c}.sys.*.>`, `hive.${c}.sys.status`, `hive.${c}.sys.heartbeat`, `hive.${c}.sys.leave`, 'task.>', '$JS.>', '$KV.>', '$SYS.>', '_INBOX.>'];
}

/** The publish allow list of a client of cluster `c` (memory limited to `namespaces` when given). */
export function clientPublish(c: string, namespaces?: readonly string[]): string[] {
  const memory = namespaces === undefined ? [`hive.${c}.memory.*`] : namespaces.map((ns) => `hive.${c}.memory.${ns}`);
  // sys.cancel: a caller may cancel its own asks (a cancel names the reply subject and the unguessable cid);
  // credit.*: a caller reading a stream grants its producer credits (a credit names the stream the same way)
  return [`hive.${c}.actor.>`, `hive.${c}.kind.>`, `hive.${c}.pool.>`, `hive.${c}.sys.cancel`, `hive.${c}.credit.*`, ...memory];
}

/** What only an admin may publish besides a client's subjects. */
export function adminPublish(c: string): string[] {
  return [`hive.${c}.sys.status`, `hive.${c}.sys.node.*.status`, `hive.${c}.sys.node.*.spawn`, `hive.${c}.sys.pool.*.resize`, `hive.${c}.memory`, `hive.${c}.memory.*`];
}

function password(): string {
  return randomBytes(24).toString('base64url');
}

/** Builds the users of `spec`: one `node`, one `admin`, and the clients (default one named `client`). */
export function buildUsers(spec: AuthSpec): AuthUser[] {
  const c = assertToken(spec.cluster, 'cluster name');
  const clients = spec.clients ?? [{ name: 'client' }];
  const names = new Set<string>(['node', 'admin']);
  const users: AuthUser[] = [
    { user: 'node', role: 'node', password: password(), inboxPrefix: undefined, permissions: { publish: { allow: ['>'] }, subscribe: { allow: ['>'] } } },
    {
      user: 'admin',
      role: 'admin',
      password: password(),
      inboxPrefix: '_INBOX_admin',
      permissions: {
        publish: { allow: [...clientPublish(c).filter((s) => !s.startsWith(`hive.${c}.memory`)), ...adminPublish(c)], deny: ['task.>', '$JS.>', '$KV.>', '$SYS.>', '_INBOX.>'] },
        subscribe: { allow: ['_INBOX_admin.>'] },
      },
    },
  ];
  for (const cl of clients) {
    const name = assertToken(cl.name, 'client user name');
    if (names.has(name)) throw new InvalidArgumentError(`user name "${name}" is used twice (node and admin are reserved)`, { details: { name } });
    names.add(name);
    const namespaces = cl.namespaces?.map((ns) => assertToken(ns, 'memory namespace'));
    const prefix = `_INBOX_${name}`;
    const u: AuthUser = {
      user: name,
      role: 'client',
      password: password(),
      inboxPrefix: prefix,
      permissions: { publish: { allow: clientPublish(c, namespaces), deny: clientDenies(c) }, subscribe: { allow: [`${prefix}.>`] } },
    };
    if (namespaces !== undefined) u.namespaces = namespaces;
    users.push(u);
  }
  return users;
}

const q = (s: string): string => JSON.stringify(s);
const list = (xs: readonly string[]): string => `[${xs.map(q).join(', ')}]`;

/** The nats-server configuration block for `users` (an `authorization` section; include it or add `port`, `jetstream`). */
export function serverConfig(spec: AuthSpec, users: readonly AuthUser[]): string {
  const lines = [
    `# Hive roles for cluster ${spec.cluster}, written by \`hive auth init\`. Keep this file private (it holds passwords).`,
    '# Start the server with: nats-server -c <this file> -js   (add your own port, TLS and storage settings)',
    'authorization {',
    '  users = [',
  ];
  for (const u of users) {
    const p = u.permissions;
    const pub = `allow: ${list(p.publish.allow)}${p.publish.deny ? `, deny: ${list(p.publish.deny)}` : ''}`;
    const sub = `allow: ${list(p.subscribe.allow)}${p.subscribe.deny ? `, deny: ${list(p.subscribe.deny)}` : ''}`;
    lines.push(`    # ${u.role}${u.namespaces ? ` (memory namespaces: ${u.namespaces.join(', ')})` : ''}`);
    lines.push(`    { user: ${q(u.user)}, password: ${q(u.password)}, permissions: { publish: { ${pub} }, subscribe: { ${sub} } } }`);
  }
  lines.push('  ]', '}', '');
  return lines.join('\n');
}

/** The env file of one user: what every `hive` command (and `Hive.start`) reads. */
export function envFile(spec: AuthSpec, u: AuthUser, natsUrl: string | undefined): string {
  const lines = [`# Hive credentials of user ${u.user} (role ${u.role}) for cluster ${spec.cluster}. Keep private.`, `HIVE_CLUSTER=${spec.cluster}`];
  if (natsUrl !== undefined) lines.push(`HIVE_NATS_URL=${natsUrl}`);
  lines.push(`HIVE_NATS_USER=${u.user}`, `HIVE_NATS_PASSWORD=${u.password}`);
  if (u.inboxPrefix !== undefined) lines.push(`HIVE_NATS_INBOX_PREFIX=${u.inboxPrefix}`);
  lines.push('');
  return lines.join('\n');
}
