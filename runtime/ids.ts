// Injected id generation: unique ids that are also safe subject tokens.
import { randomBytes } from 'node:crypto';

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

/** Deterministic ids for tests: `<prefix>1`, `<prefix>2`, ... */
export class SequentialIds implements IdSource {
  private n = 0;
  constructor(private readonly prefix = 'id') {}
  next(): string {
    this.n += 1;
    return `${this.prefix}${this.n}`;
  }
}
