// The COPY encoder worker entry (runs in a piscina thread): receives a document batch with its embeddings
// transferred, quantizes them and encodes the binary COPY rows, and transfers the buffer back.
import { move, transferableSymbol, valueSymbol } from 'piscina';
import { encodeDocumentBatch, type DocumentBatch } from './documentBatch.js';

/** A request to the COPY worker: one batch to encode. */
export interface CopyWorkerRequest {
  batch: DocumentBatch;
}

/** The COPY worker's answer: the encoded stream and the time it took. */
export interface CopyWorkerResponse {
  /** The whole binary COPY stream (header, rows, trailer). */
  copy: Uint8Array;
  /** Encoding time in the worker, ms. */
  encodeMs: number;
}

/** Encodes one batch; the result's buffer is transferred to the caller, not copied. */
export default function encodeInWorker(request: CopyWorkerRequest): CopyWorkerResponse {
  const start = performance.now();
  const buf = encodeDocumentBatch(request.batch);
  const copy = new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
  const response: CopyWorkerResponse = { copy, encodeMs: performance.now() - start };
  // A movable wrapper: piscina transfers `copy`'s buffer and hands the caller the response object.
  const movable = {
    get [transferableSymbol](): ArrayBufferLike {
      return copy.buffer;
    },
    get [valueSymbol](): CopyWorkerResponse {
      return response;
    },
  };
  return move(movable) as unknown as CopyWorkerResponse;
}
