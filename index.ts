// agent-hive: the public API. Start a node with `Hive.start()`, spawn xstate machines as actors, reach them
// by id with `hive.ref(id)`, answer asks from machines with `reply(event, answer)`.
export { Hive, type HiveStartOptions } from './cluster/Hive.js';
export { ActorRef, type AskOptions } from './runtime/ActorRef.js';
export type { ActorLifecycleEvent, ActorInfo, SpawnOptions } from './runtime/ActorSystem.js';
export { reply, replyError, isAsk } from './runtime/reply.js';
export { SimulatedClock, systemClock, type Clock } from './runtime/Clock.js';
export { RandomIds, SequentialIds, type IdSource } from './runtime/ids.js';
export { configFromEnv, defaultConfig, resolveConfig, type HiveConfig, type HiveOptions, type NatsSettings } from './runtime/config.js';
export type { DeadLetter, DeadLetterReason } from './runtime/DeadLetters.js';
export { InProcBus, InProcTransport } from './runtime/InProcTransport.js';
export type { Transport, TransportMessage, TransportStatus } from './runtime/Transport.js';
export * from './protocols/errors.js';
export type { HiveEvent } from './protocols/envelope.js';
export { Supervisor, type ChildSupervision, type SupervisedSpawnOptions, type NamedSupervisorOptions, type SupervisionEvent, type SupervisionStrategy, type RestartPolicy, type RestartFrom } from './actors/supervisor/index.js';
export { Memory, type MemoryOptions, type MemorySearch, type MemoryIngestCall } from './cluster/NodeMemory.js';
export { HashingEmbedder, type HashingEmbedderOptions } from './actors/memory/HashingEmbedder.js';
export { HttpEmbedder, type HttpEmbedderOptions } from './actors/memory/HttpEmbedder.js';
export type { Embedder } from './actors/memory/Embedder.js';
export type { DocumentInput, Rejection } from './actors/memory/Document.js';
export type { SearchHit } from './actors/memory/MemoryStore.js';
export { memorySubject, type IngestedAnswer, type QueuedAnswer, type ResultsAnswer, type DeletedAnswer, type StatsAnswer } from './actors/memory/memoryProtocol.js';
export { NodeHttp, type NodeHttpOptions, type ClusterView } from './cluster/ops/NodeHttp.js';
export { KPIS, kpiLevel, type KpiDefinition, type KpiId } from './cluster/ops/kpis.js';
export type { KpiSample, KpiSection } from './cluster/ops/KpiSampler.js';
export { DEFAULT_HTTP_HOST, DEFAULT_HTTP_PORT, parseHttpAddress, resolveHttpAddress, type HttpAddress } from './cluster/ops/httpOptions.js';
export { Limiter, Budget, type Permit, type TakeOptions, type BudgetStatus, type LimiterOptions, type BudgetOptions } from './actors/limits/index.js';
export type { NodeServices, ScheduledTimer } from './actors/agent/NodeServices.js';
export { MAX_SCHEDULE_MS, type ScheduleOptions, type TimerTarget } from './actors/timers/timerRecord.js';
