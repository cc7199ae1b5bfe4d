// The PostgreSQL binary COPY encoder: signature header, rows of length-prefixed fields, trailer. Callers size
// a batch first (`copySize`), then write every field into one preallocated buffer with `CopyWriter`. Pure.
import { f32BitsToF16Bits } from './embeddings.js';

/** The 11-byte signature every binary COPY stream starts with: `PGCOPY\n\377\r\n\0`. */
export const COPY_SIGNATURE: Uint8Array = Uint8Array.of(0x50, 0x47, 0x43, 0x4f, 0x50, 0x59, 0x0a, 0xff, 0x0d, 0x0a, 0x00);

/** PostgreSQL's epoch (2000-01-01T00:00:00Z) as Unix epoch milliseconds. */
export const PG_EPOCH_MS = 946_684_800_000;

const UUID_RE = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;

/**
 * Byte sizes of each part of a binary COPY stream; every field size includes its 4-byte length prefix.
 * Sum them for a batch, allocate once, then write with {@link CopyWriter}.
 */
export const copySize = {
  /** Signature, flags and header-extension length. */
  header: 19,
  /** The -1 field count that ends the stream. */
  trailer: 2,
  /** The 16-bit field count that starts each row. */
  row: 2,
  /** A NULL field (length -1, no data). */
  null: 4,
  /** A `text` field (UTF-8). */
  text: (value: string): number => 4 + Buffer.byteLength(value, 'utf8'),
  /** A `jsonb` field from its JSON text (version byte 1, then the text). */
  jsonb: (json: string): number => 5 + Buffer.byteLength(json, 'utf8'),
  /** A `uuid` field. */
  uuid: 20,
  /** An `int8` (bigint) field. */
  int8: 12,
  /** An `int4` field. */
  int4: 8,
  /** A `float8` field. */
  float8: 12,
  /** A `bool` field. */
  bool: 5,
  /** A `timestamptz` field. */
  timestamptz: 12,
  /** A `bytea` field. */
  bytea: (byteLength: number): number => 4 + byteLength,
  /** A pgvector `vector(dims)` field: int16 dims, int16 unused, float4 each. */
  vector: (dims: number): number => 8 + 4 * dims,
  /** A pgvector `halfvec(dims)` field: int16 dims, int16 unused, float2 each. */
  halfvec: (dims: number): number => 8 + 2 * dims,
} as const;

/**
 * Writes a binary COPY stream into one preallocated buffer. Call {@link CopyWriter.header} once, then for
 * each row {@link CopyWriter.row} followed by exactly that many field writes, then {@link CopyWriter.trailer}
 * and {@link CopyWriter.finish}. The writer does not check values against column types (callers validate:
 * PostgreSQL rejects the whole COPY on one bad field, e.g. a NUL character in text).
 */
export class CopyWriter {
  /** The whole buffer (size fixed at construction). */
  readonly buffer: Buffer;
  private readonly view: DataView;
  private offset = 0;

  /** @param byteLength the exact total size, summed from {@link copySize} */
  constructor(byteLength: number) {
    // A dedicated ArrayBuffer (never the shared pool slab), so the buffer can be transferred between threads.
    this.buffer = Buffer.allocUnsafeSlow(byteLength);
    this.view = new DataView(this.buffer.buffer, this.buffer.byteOffset, this.buffer.byteLength);
  }

  /** Bytes written so far. */
  get position(): number {
    return this.offset;
  }

  /** Writes the signature, flags (0) and header extension length (0). */
  header(): this {
    this.buffer.set(COPY_SIGNATURE, this.offset);
    this.view.setInt32(this.offset + 11, 0);
    this.view.setInt32(this.offset + 15, 0);
    this.offset += 19;
    return this;
  }

  /** Starts a row of `fieldCount` fields. */
  row(fieldCount: number): this {
    this.view.setInt16(this.offset, fieldCount);
    this.offset += 2;
    return this;
  }

  /** Writes a NULL field. */
  null(): this {
    this.view.setInt32(this.offset, -1);
    this.offset += 4;
    return this;
  }

  /** Writes a `text` (or `varchar`) field as UTF-8. */
  text(value: string): this {
    const n = this.buffer.write(value, this.offset + 4, 'utf8');
    this.view.setInt32(this.offset, n);
    this.offset += 4 + n;
    return this;
  }

  /** Writes a `jsonb` field from JSON text: version byte 1, then the text as UTF-8. */
  jsonb(json: string): this {
    const n = this.buffer.write(json, this.offset + 5, 'utf8');
    this.view.setInt32(this.offset, n + 1);
    this.buffer[this.offset + 4] = 1;
    this.offset += 5 + n;
    return this;
  }

  /** Writes a `uuid` field from its canonical 36-character text form; throws a RangeError on anything else. */
  uuid(value: string): this {
    if (!UUID_RE.test(value)) throw new RangeError(`not a UUID: ${JSON.stringify(value)}`);
    this.view.setInt32(this.offset, 16);
    let o = this.offset + 4;
    for (let i = 0; i < 36; i += 2) {
      if (value.charCodeAt(i) === 0x2d) i += 1; // '-'
      this.buffer[o++] = parseInt(value.slice(i, i + 2), 16);
    }
    this.offset += 20;
    return this;
  }

  /** Writes an `int8` field (a safe integer or a bigint). */
  int8(value: number | bigint): this {
    this.view.setInt32(this.offset, 8);
    if (typeof value === 'bigint') this.view.setBigInt64(this.offset + 4, value);
    else this.writeInt64(this.offset + 4, value);
    this.offset += 12;
    return this;
  }

  /** Writes an `int4` field. */
  int4(value: number): this {
    this.view.setInt32(this.offset, 4);
    this.view.setInt32(this.offset + 4, value);
    this.offset += 8;
    return this;
  }

  /** Writes a `float8` field. */
  float8(value: number): this {
    this.view.setInt32(this.offset, 8);
    this.view.setFloat64(this.offset + 4, value);
    this.offset += 12;
    return this;
  }

  /** Writes a `bool` field. */
  bool(value: boolean): this {
    this.view.setInt32(this.offset, 1);
    this.buffer[this.offset + 4] = value ? 1 : 0;
    this.offset += 5;
    return this;
  }

  /**
   * Writes a `timestamptz` field: microseconds since 2000-01-01T00:00:00Z as int64.
   * @param value a Date or epoch milliseconds (fractions keep microsecond precision)
   */
  timestamptz(value: Date | number): this {
    const ms = typeof value === 'number' ? value : value.getTime();
    this.view.setInt32(this.offset, 8);
    this.writeInt64(this.offset + 4, Math.round((ms - PG_EPOCH_MS) * 1000));
    this.offset += 12;
    return this;
  }

  /** Writes a `bytea` field. */
  bytea(value: Uint8Array): this {
    this.view.setInt32(this.offset, value.byteLength);
    this.buffer.set(value, this.offset + 4);
    this.offset += 4 + value.byteLength;
    return this;
  }

  /**
   * Writes a pgvector `vector` field: int16 dims, int16 0, then each component as big-endian float4.
   * @param values the components, or a larger array holding them at `[start, start + dims)`
   */
  vector(values: Float32Array, start = 0, dims = values.length - start): this {
    const v = this.view;
    let o = this.offset;
    v.setInt32(o, 4 + 4 * dims);
    v.setInt16(o + 4, dims);
    v.setInt16(o + 6, 0);
    o += 8;
    const end = start + dims;
    for (let i = start; i < end; i++, o += 4) v.setFloat32(o, values[i]);
    this.offset = o;
    return this;
  }

  /**
   * Writes a pgvector `halfvec` field: int16 dims, int16 0, then each component as big-endian float2.
   * @param values float32 components (rounded to half, see `encodeF16` for the error bound) or half bits,
   *   or a larger array holding them at `[start, start + dims)`
   */
  halfvec(values: Float32Array | Uint16Array, start = 0, dims = values.length - start): this {
    const buf = this.buffer;
    let o = this.offset;
    this.view.setInt32(o, 4 + 2 * dims);
    this.view.setInt16(o + 4, dims);
    this.view.setInt16(o + 6, 0);
    o += 8;
    const end = start + dims;
    if (values instanceof Float32Array) {
      const bits = new Uint32Array(values.buffer, values.byteOffset, values.length);
      for (let i = start; i < end; i++, o += 2) {
        const h = f32BitsToF16Bits(bits[i]);
        buf[o] = h >>> 8;
        buf[o + 1] = h & 0xff;
      }
    } else {
      for (let i = start; i < end; i++, o += 2) {
        const h = values[i];
        buf[o] = h >>> 8;
        buf[o + 1] = h & 0xff;
      }
    }
    this.offset = o;
    return this;
  }

  /** Writes the end-of-data marker (field count -1). */
  trailer(): this {
    this.view.setInt16(this.offset, -1);
    this.offset += 2;
    return this;
  }

  /** Returns the buffer; throws if the bytes written differ from the size given at construction. */
  finish(): Buffer {
    if (this.offset !== this.buffer.length) {
      throw new RangeError(`COPY buffer size mismatch: wrote ${this.offset} of ${this.buffer.length} bytes`);
    }
    return this.buffer;
  }

  private writeInt64(offset: number, value: number): void {
    if (!Number.isSafeInteger(value)) throw new RangeError(`not a safe integer for int8: ${value}`);
    const hi = Math.floor(value / 0x1_0000_0000);
    this.view.setInt32(offset, hi);
    this.view.setUint32(offset + 4, value - hi * 0x1_0000_0000);
  }
}

/** The column types {@link encodeCopy} knows. */
export type CopyColumnType =
  | 'text'
  | 'jsonb'
  | 'uuid'
  | 'int8'
  | 'int4'
  | 'float8'
  | 'bool'
  | 'timestamptz'
  | 'bytea'
  | 'vector'
  | 'halfvec';

/**
 * One field value for {@link encodeCopy}: `null`/`undefined` is SQL NULL; `jsonb` takes JSON text or any
 * JSON-serializable value; `timestamptz` a Date or epoch ms; `halfvec` float32 components or half bits.
 */
export type CopyValue = string | number | bigint | boolean | Date | Uint8Array | Float32Array | Uint16Array | object | null | undefined;

function fieldSize(type: CopyColumnType, value: Exclude<CopyValue, null | undefined>): number {
  switch (type) {
    case 'text':
      return copySize.text(value as string);
    case 'jsonb':
      return copySize.jsonb(value as string);
    case 'uuid':
      return copySize.uuid;
    case 'int8':
      return copySize.int8;
    case 'int4':
      return copySize.int4;
    case 'float8':
      return copySize.float8;
    case 'bool':
      return copySize.bool;
    case 'timestamptz':
      return copySize.timestamptz;
    case 'bytea':
      return copySize.bytea((value as Uint8Array).byteLength);
    case 'vector':
      return copySize.vector((value as Float32Array).length);
    case 'halfvec':
      return copySize.halfvec((value as Float32Array | Uint16Array).length);
  }
}

function writeField(w: CopyWriter, type: CopyColumnType, value: Exclude<CopyValue, null | undefined>): void {
  switch (type) {
    case 'text':
      w.text(value as string);
      return;
    case 'jsonb':
      w.jsonb(value as string);
      return;
    case 'uuid':
      w.uuid(value as string);
      return;
    case 'int8':
      w.int8(value as number | bigint);
      return;
    case 'int4':
      w.int4(value as number);
      return;
    case 'float8':
      w.float8(value as number);
      return;
    case 'bool':
      w.bool(value as boolean);
      return;
    case 'timestamptz':
      w.timestamptz(value as Date | number);
      return;
    case 'bytea':
      w.bytea(value as Uint8Array);
      return;
    case 'vector':
      w.vector(value as Float32Array);
      return;
    case 'halfvec':
      w.halfvec(value as Float32Array | Uint16Array);
      return;
  }
}

/**
 * Encodes rows as one complete binary COPY stream (header, rows, trailer) in a single buffer: a sizing pass,
 * one allocation, a writing pass. `jsonb` values that are not strings are serialized with JSON.stringify.
 * Convenient for tests and small batches; hot paths size and write their own rows with {@link CopyWriter}.
 *
 * @param columns the type of each column, in table order of the COPY column list
 * @param rows each row's values, one per column
 */
export function encodeCopy(columns: readonly CopyColumnType[], rows: readonly (readonly CopyValue[])[]): Buffer {
  const prepared: (Exclude<CopyValue, undefined> | null)[][] = [];
  let size = copySize.header + copySize.trailer;
  for (let r = 0; r < rows.length; r++) {
    const row = rows[r];
    if (row.length !== columns.length) {
      throw new RangeError(`row ${r} has ${row.length} values for ${columns.length} columns`);
    }
    const out: (Exclude<CopyValue, undefined> | null)[] = new Array<Exclude<CopyValue, undefined> | null>(row.length);
    size += copySize.row;
    for (let c = 0; c < columns.length; c++) {
      let value = row[c];
      if (value === null || value === undefined) {
        out[c] = null;
        size += copySize.null;
        continue;
      }
      if (columns[c] === 'jsonb' && typeof value !== 'string') value = JSON.stringify(value);
      out[c] = value;
      size += fieldSize(columns[c], value);
    }
    prepared.push(out);
  }
  const w = new CopyWriter(size).header();
  for (const row of prepared) {
    w.row(columns.length);
    for (let c = 0; c < columns.length; c++) {
      const value = row[c];
      if (value === null || value === undefined) w.null();
      else writeField(w, columns[c], value);
    }
  }
  return w.trailer().finish();
}
