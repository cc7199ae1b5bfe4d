// Supervision: supervisor actors (xstate), their restart strategies, restart intensity and backoff.
export { Backoff, defaultBackoff, resolveBackoff, type BackoffOptions, type Jitter, type ResolvedBackoff } from '../../runtime/Backoff.js';
export type { ChildSpec } from './ChildTable.js';
export { RestartIntensity, defaultIntensity, resolveIntensity, type IntensityOptions } from './RestartIntensity.js';
export { SupervisionSignals, type SupervisionEvent } from './signals.js';
export { restartSet, wantsRestart, type RestartFrom, type RestartPolicy, type SupervisionStrategy, type TerminationReason } from './strategy.js';
export {
  ROOT_SUPERVISOR_ID,
  Supervisor,
  type ChildSupervision,
  type NamedSupervisorOptions,
  type RootSupervisorOptions,
  type SupervisedSpawnOptions,
} from './Supervisor.js';
export {
  describeSupervisor,
  supervisorMachine,
  validateSupervisorOptions,
  type SupervisedChildInfo,
  type SupervisorChildSpec,
  type SupervisorInput,
  type SupervisorMessage,
  type SupervisorOptions,
  type SupervisorStatus,
} from './supervisorMachine.js';
