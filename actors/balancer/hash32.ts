// A fast, stable, non-cryptographic 32-bit string hash (FNV-1a with murmur3's avalanche finish) for the ring.

/** murmur3's 32-bit finalizer: a bijective mix that spreads every input bit over the output. */
export function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/**
 * FNV-1a over the string's UTF-16 code units, finished with {@link fmix32} (plain FNV-1a clusters keys
 * that differ only in their last characters). The same string gives the same hash in every process.
 * @returns an unsigned 32-bit integer.
 */
export function hash32(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return fmix32(h);
}
