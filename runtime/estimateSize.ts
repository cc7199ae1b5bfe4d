// A cheap estimate of how many bytes a value takes once encoded (msgpack-like sizes), for byte bounds on queues
// that hold decoded objects (mailboxes). It visits at most `MAX_VISITS` values; past that, the rest of a large
// array or object is extrapolated from the part it measured, so a huge value costs the same as a small one.

/** Values measured one by one before the rest is extrapolated. */
export const MAX_VISITS = 256;

/** Estimated encoded size of `value` in bytes (an approximation: never used as an exact wire size). */
export function estimateSize(value: unknown): number {
  const budget = { left: MAX_VISITS };
  return measure(value, budget, 0);
}

function measure(value: unknown, budget: { left: number }, depth: number): number {
  budget.left -= 1;
  switch (typeof value) {
    case 'string':
      // UTF-16 code units; a code unit is 1 to 3 bytes in UTF-8 (ASCII text, the common case, is 1)
      return value.length + 5;
    case 'number':
      return 9;
    case 'boolean':
    case 'undefined':
      return 1;
    case 'bigint':
      return 9;
    case 'object':
      break;
    default:
      return 1;
  }
  if (value === null) return 1;
  if (ArrayBuffer.isView(value)) return value.byteLength + 5;
  if (value instanceof ArrayBuffer) return value.byteLength + 5;
  if (depth > 32) return 1;
  if (Array.isArray(value)) return 5 + measureList(value, value.length, (i) => value[i], budget, depth);
  if (value instanceof Map) {
    const entries = [...value.entries()];
    return 5 + measureList(entries, entries.length, (i) => entries[i], budget, depth);
  }
  if (value instanceof Set) {
    const items = [...value];
    return 5 + measureList(items, items.length, (i) => items[i], budget, depth);
  }
  let size = 5;
  let seen = 0;
  let measured = 0;
  let total = 0;
  const o = value as Record<string, unknown>;
  for (const k in o) {
    total += 1;
    if (budget.left <= 0) continue;
    seen += 1;
    const part = k.length + 1 + measure(o[k], budget, depth + 1);
    measured += part;
  }
  size += measured;
  if (total > seen && seen > 0) size += Math.ceil((measured / seen) * (total - seen));
  else if (total > seen) size += (total - seen) * 16;
  return size;
}

function measureList(list: unknown, length: number, at: (i: number) => unknown, budget: { left: number }, depth: number): number {
  let measured = 0;
  let i = 0;
  for (; i < length && budget.left > 0; i++) measured += measure(at(i), budget, depth + 1);
  if (i < length) measured += i > 0 ? Math.ceil((measured / i) * (length - i)) : (length - i) * 16;
  void list;
  return measured;
}
