// Not public API: a node's internals for the runtime's own modules (the CLI, the HTTP endpoint), tests and
// benchmarks. The package entry (index.ts) does not export this module.
export { hiveInternals, type HiveInternals } from './Hive.js';
