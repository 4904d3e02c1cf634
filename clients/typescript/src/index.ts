/**
 * `@drover/client`: a TypeScript client for Drover's scheduler.
 *
 * - {@link DroverClient}: submit, get, watch, cancel, run, list and cluster status over gRPC.
 * - {@link DroverError}: a failed call with its google.rpc details (reason, fields, retry delay).
 * - The message types generated from `proto/drover/v1` (TaskSpec, Task, TaskEvent, Step…),
 *   their schemas and enums, re-exported as they are.
 *
 * @packageDocumentation
 */

export {
  DEFAULT_BASE_URL,
  DroverClient,
  isTerminal,
  type CallOptions,
  type DroverClientOptions,
  type GetOptions,
  type HeadersInit,
  type ListFilter,
  type SubmitOptions,
  type TaskSpecInit,
  type WatchOptions,
} from "./client.js";
export { Code, DroverError, ERROR_DOMAIN, type FieldViolation } from "./errors.js";

export * from "./gen/drover/v1/ai_pb.js";
export * from "./gen/drover/v1/browser_pb.js";
export * from "./gen/drover/v1/scheduler_pb.js";
export * from "./gen/drover/v1/task_pb.js";
export {
  ErrorReason,
  ErrorReasonSchema,
  ErrorSchema,
  FieldViolationSchema,
  file_drover_v1_errors,
  // `Error` and `FieldViolation` would shadow the global Error and DroverError's own
  // FieldViolation, so the in-band error types get explicit names.
  type Error as TaskError,
  type FieldViolation as TaskFieldViolation,
} from "./gen/drover/v1/errors_pb.js";
export { WorkerKind, WorkerKindSchema } from "./gen/drover/v1/worker_hub_pb.js";
