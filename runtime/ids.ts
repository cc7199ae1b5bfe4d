// Injected id generation: unique ids that are also safe subject tokens.
import { randomBytes, randomFillSync } from 'node:crypto';

/** Produces unique ids. */
export interface IdSource {
  next(): string;
}

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/** A random prefix plus a counter in base 62: unique per process, cheap, and a valid subject token. */
export class RandomIds implements IdSource {
  private readonly prefix: string;
  private counter = 0;

  constructor(prefixLength = 12) {
    const bytes = randomBytes(prefixLength);
    let p = '';
    for (const b of bytes) p += ALPHABET[b % 62];
    this.prefix = p;
  }

  next(): string {
    let n = this.counter++;
    let s = '';
    do {
      s = ALPHABET[n % 62] + s;
      n = Math.floor(n / 62);
    } while (n > 0);
    return `${this.prefix}${s}`;
  }
}

// Random bytes are drawn from the OS in blocks (one syscall per 256 ids): an id costs a slice and a base64url
// encoding, cheap enough for every request on the ask hot path.
const SECURE_ID_BYTES = 16;
const POOL_IDS = 256;
const pool = Buffer.alloc(SECURE_ID_BYTES * POOL_IDS);
let poolNext = POOL_IDS;

/**
 * An unguessable id: 128 bits from the OS's CSPRNG, base64url (22 characters of `[A-Za-z0-9_-]`, one safe
 * subject token). Correlation ids are made with it, so nobody can predict (and answer) another's request.
 */
export function secureId(): string {
  if (poolNext === POOL_IDS) {
    randomFillSync(pool);
    poolNext = 0;
  }
  const start = poolNext++ * SECURE_ID_BYTES;
  return pool.toString('base64url', start, start + SECURE_ID_BYTES);
}

/** An {@link IdSource} of {@link secureId}s: unguessable, for correlation ids. */
export class SecureIds implements IdSource {
  next(): string {
    return secureId();
  }
}

/** Deterministic ids for tests: `<prefix>1`, `<prefix>2`, ... */
export class SequentialIds implements IdSource {
  private n = 0;
  constructor(private readonly prefix = 'id') {}
  next(): string {
    this.n += 1;
    return `${this.prefix}${this.n}`;
  }
}
