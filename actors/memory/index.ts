// Semantic memory: the store interface and its PostgreSQL and PGlite backends, document validation,
// embedders and the query cache (the memory actor builds on these).
export type { Embedder } from './Embedder.js';
export { HashingEmbedder, tokenize, type HashingEmbedderOptions } from './HashingEmbedder.js';
export { HttpEmbedder, type HttpEmbedderOptions } from './HttpEmbedder.js';
export {
  validateDocument,
  NAMESPACE_PATTERN,
  MAX_ID_LENGTH,
  type Document,
  type DocumentInput,
  type DocumentField,
  type DocumentValidation,
  type EmbeddingStorage,
  type Rejection,
  type ValidationLimits,
  type ValidDocument,
  type InvalidDocument,
} from './Document.js';
export {
  resolveStoreOptions,
  type DeleteRequest,
  type DeleteResult,
  type HnswOptions,
  type IngestResult,
  type MemoryStats,
  type MemoryStore,
  type MemoryStoreOptions,
  type ResolvedStoreOptions,
  type SearchHit,
  type SearchQuery,
} from './MemoryStore.js';
export { PgStore, type PgStoreOptions } from './PgStore.js';
export { PgliteStore, type PgliteStoreOptions } from './PgliteStore.js';
export { QueryCache, queryKey, type QueryCacheOptions, type QueryCacheStats, type QueryKey } from './QueryCache.js';
export type { MetricsLike } from './memoryMetrics.js';
