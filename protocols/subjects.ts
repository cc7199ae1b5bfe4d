// NATS subject names for a Hive cluster, and the check that ids and cluster names are one safe subject token.
import { InvalidIdError } from './errors.js';

const TOKEN = /^[A-Za-z0-9_-]{1,128}$/;

/** True when `value` is one safe subject token: `[A-Za-z0-9_-]{1,128}`. */
export function isToken(value: unknown): value is string {
  return typeof value === 'string' && TOKEN.test(value);
}

/**
 * Throws {@link InvalidIdError} naming `what` and the value unless it is one safe subject token.
 * @returns the value, for chaining.
 */
export function assertToken(value: unknown, what: string): string {
  if (isToken(value)) return value;
  const shown = typeof value === 'string' ? JSON.stringify(value.length > 80 ? `${value.slice(0, 80)}…` : value) : String(value);
  throw new InvalidIdError(`invalid ${what} ${shown}: must be 1-128 characters of A-Z a-z 0-9 _ -`, {
    details: { what, value: typeof value === 'string' ? value.slice(0, 200) : String(value) },
  });
}

/** `hive.<cluster>.actor.<id>`: an actor's inbox. */
export function actorSubject(cluster: string, id: string): string {
  return `hive.${cluster}.actor.${id}`;
}

/** `hive.<cluster>.kind.<kind>.<key>`: a virtual actor's address, served before and after activation. */
export function virtualSubject(cluster: string, kind: string, key: string): string {
  return `hive.${cluster}.kind.${kind}.${key}`;
}

/** `hive.<cluster>.sys.<...parts>`: node control, membership and status. */
export function sysSubject(cluster: string, ...parts: string[]): string {
  return parts.length === 0 ? `hive.${cluster}.sys` : `hive.${cluster}.sys.${parts.join('.')}`;
}

/** `hive.<cluster>.pool.<name>`: where a pool takes task submissions. */
export function poolSubject(cluster: string, pool: string): string {
  return `hive.${cluster}.pool.${pool}`;
}
