// DroverClient: Drover's scheduler API (drover.v1.SchedulerService) over gRPC.
//
// A thin layer over the connect-es client generated from proto/: it fills requests in, unwraps
// responses, ends `watch` at the task's terminal event and turns every failure into a
// DroverError. Messages are the generated protobuf-es types, so a TaskSpec is written as a
// plain object (`{ steps: [{ name, kind: { case: "navigate", value: { url } } }] }`).

import type { MessageInitShape } from "@bufbuild/protobuf";
import {
  Code,
  ConnectError,
  createClient,
  type Client,
  type Interceptor,
  type Transport,
} from "@connectrpc/connect";
import { createGrpcTransport, Http2SessionManager } from "@connectrpc/connect-node";
import {
  SchedulerService,
  type GetClusterStatusResponse,
  type SubmitTaskResponse,
} from "./gen/drover/v1/scheduler_pb.js";
import {
  TaskState,
  type Priority,
  type Task,
  type TaskEvent,
  type TaskSpecSchema,
} from "./gen/drover/v1/task_pb.js";
import { DroverError } from "./errors.js";

/** Headers as `new Headers(...)` takes them: an object, pairs, or a Headers. */
export type HeadersInit = ConstructorParameters<typeof Headers>[0];

/** A task's description as a plain object (or a TaskSpec message). */
export type TaskSpecInit = MessageInitShape<typeof TaskSpecSchema>;

/** The scheduler a client talks to when no `baseUrl` is given. */
export const DEFAULT_BASE_URL = "http://127.0.0.1:50051";

/** How long a unary call may take when neither the client nor the call says. */
const DEFAULT_TIMEOUT_MS = 30_000;

/** How a DroverClient reaches the scheduler. */
export interface DroverClientOptions {
  /**
   * The scheduler's address: `http://host:port` (gRPC over cleartext HTTP/2) or
   * `https://host:port`. `host:port` alone means `http://host:port`. Default
   * `http://127.0.0.1:50051`.
   */
  baseUrl?: string;
  /**
   * Deadline in milliseconds for the short calls (submit, get, cancel, list, clusterStatus)
   * unless a call gives its own; 0 for none. Default 30 s. `watch` and `run` wait as long as
   * the task takes unless their call sets `timeoutMs`.
   */
  timeoutMs?: number;
  /** Headers sent with every call (for example `authorization`). */
  headers?: HeadersInit;
  /** connect-es interceptors applied to every call. */
  interceptors?: Interceptor[];
  /** A transport of your own; `baseUrl` and `interceptors` are then ignored. */
  transport?: Transport;
}

/** Options of one call. */
export interface CallOptions {
  /** Aborting the signal ends the call with a DroverError of code `Code.Canceled`. */
  signal?: AbortSignal;
  /** Deadline in milliseconds; 0 for none. */
  timeoutMs?: number;
  /** Headers for this call only. */
  headers?: HeadersInit;
}

/** Options of `submit` and `run`: fields that override the spec's, and the call's options. */
export interface SubmitOptions extends CallOptions {
  /** A repeated submit with the same tenant and key returns the existing task. */
  idempotencyKey?: string;
  /** The task's owner; empty means "default". */
  tenant?: string;
  priority?: Priority;
}

/** Options of `get`. */
export interface GetOptions extends CallOptions {
  /** Leave step outputs out (screenshots and PDFs can be large). */
  omitOutputs?: boolean;
}

/** Options of `watch`. */
export interface WatchOptions extends CallOptions {
  /** Start after this event sequence number (0, the default, replays every retained event). */
  afterSequence?: bigint;
}

/** Which tasks `list` returns. */
export interface ListFilter {
  /** Only this tenant's tasks; all tenants when unset. */
  tenant?: string;
  /** Only tasks in these states; all states when unset. */
  states?: TaskState[];
  /** Tasks fetched per call, 1..1000 (default 50). */
  pageSize?: number;
}

/** True for SUCCEEDED, FAILED, CANCELLED and EXPIRED: states a task reaches once and keeps. */
export function isTerminal(state: TaskState): boolean {
  return (
    state === TaskState.SUCCEEDED ||
    state === TaskState.FAILED ||
    state === TaskState.CANCELLED ||
    state === TaskState.EXPIRED
  );
}

/** A client of Drover's scheduler. One client shares one HTTP/2 connection across calls. */
export class DroverClient {
  /** The generated connect-es client, for calls this class does not wrap (SubmitTasks). */
  readonly scheduler: Client<typeof SchedulerService>;
  readonly baseUrl: string;
  private readonly timeoutMs: number;
  private readonly headers: Headers;
  private readonly sessions: Http2SessionManager | undefined;

  constructor(options: DroverClientOptions = {}) {
    this.baseUrl = normalizeBaseUrl(options.baseUrl ?? DEFAULT_BASE_URL);
    this.timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.headers = new Headers(options.headers);
    let transport = options.transport;
    if (transport === undefined) {
      // Our own session manager, so that close() can end the connection.
      this.sessions = new Http2SessionManager(this.baseUrl);
      transport = createGrpcTransport({
        baseUrl: this.baseUrl,
        sessionManager: this.sessions,
        interceptors: options.interceptors ?? [],
      });
    }
    this.scheduler = createClient(SchedulerService, transport);
  }

  /**
   * Queues a task. Resubmitting with the same tenant and idempotency key returns the first
   * task (`created` false).
   */
  async submit(spec: TaskSpecInit, options: SubmitOptions = {}): Promise<SubmitTaskResponse> {
    return call(() =>
      this.scheduler.submitTask({ task: withOverrides(spec, options) }, this.unary(options)),
    );
  }

  /** Reads a task. */
  async get(taskId: string, options: GetOptions = {}): Promise<Task> {
    const response = await call(() =>
      this.scheduler.getTask(
        { taskId, omitOutputs: options.omitOutputs ?? false },
        this.unary(options),
      ),
    );
    return required(response.task, "GetTaskResponse.task");
  }

  /**
   * Follows a task's events (queued, assigned, step_completed…, finished) in order. The
   * iteration ends after the terminal event; breaking out of it early closes the stream.
   */
  async *watch(taskId: string, options: WatchOptions = {}): AsyncGenerator<TaskEvent, void> {
    const stream = this.scheduler.watchTask(
      { taskId, afterSequence: options.afterSequence ?? 0n },
      this.waiting(options),
    );
    try {
      for await (const { event } of stream) {
        if (event === undefined) continue;
        yield event;
        if (isTerminal(event.state)) return;
        // Events already received are not handed out after an abort (as connect-es does).
        if (options.signal?.aborted) throw ConnectError.from(options.signal.reason, Code.Canceled);
      }
    } catch (error) {
      throw DroverError.from(error);
    }
  }

  /**
   * Cancels a queued or running task and returns its state after the call. Cancelling a
   * finished task changes nothing.
   */
  async cancel(taskId: string, reason = "", options: CallOptions = {}): Promise<TaskState> {
    const response = await call(() =>
      this.scheduler.cancelTask({ taskId, reason }, this.unary(options)),
    );
    return response.state;
  }

  /**
   * Submits a task and waits for it to finish (one RunTask call), returning the task with its
   * outputs in whatever terminal state it reached: check `task.state` and `task.error`.
   * Aborting the call stops the waiting, not the task.
   */
  async run(spec: TaskSpecInit, options: SubmitOptions = {}): Promise<Task> {
    const response = await call(() =>
      this.scheduler.runTask({ task: withOverrides(spec, options) }, this.waiting(options)),
    );
    return required(response.task, "RunTaskResponse.task");
  }

  /** Tasks, newest first, without their outputs, fetched a page at a time as you iterate. */
  async *list(filter: ListFilter = {}, options: CallOptions = {}): AsyncGenerator<Task, void> {
    let pageToken = "";
    do {
      const page = await call(() =>
        this.scheduler.listTasks(
          {
            tenant: filter.tenant ?? "",
            states: filter.states ?? [],
            pageSize: filter.pageSize ?? 0,
            pageToken,
          },
          this.unary(options),
        ),
      );
      yield* page.tasks;
      pageToken = page.nextPageToken;
    } while (pageToken !== "");
  }

  /** Connected workers, their slots and health, and the queue's depth per priority. */
  async clusterStatus(options: CallOptions = {}): Promise<GetClusterStatusResponse> {
    return call(() => this.scheduler.getClusterStatus({}, this.unary(options)));
  }

  /** Closes the connection; calls still running fail. Not needed for a process to exit. */
  close(): void {
    this.sessions?.abort();
  }

  /** Call options of a short call: the client's deadline unless the call sets one. */
  private unary(options: CallOptions) {
    return { ...this.waiting(options), timeoutMs: options.timeoutMs ?? this.timeoutMs };
  }

  /** Call options of a call that waits for a task: no deadline unless the call sets one. */
  private waiting({ signal, timeoutMs, headers }: CallOptions) {
    // The client's headers, then the call's (which win).
    const merged = new Headers(this.headers);
    new Headers(headers).forEach((value, key) => merged.set(key, value));
    return { signal, timeoutMs: timeoutMs ?? 0, headers: merged };
  }
}

async function call<T>(send: () => Promise<T>): Promise<T> {
  try {
    return await send();
  } catch (error) {
    throw DroverError.from(error);
  }
}

function required<T>(value: T | undefined, what: string): T {
  if (value === undefined) {
    throw new DroverError(new ConnectError(`the scheduler's answer has no ${what}`, Code.Internal));
  }
  return value;
}

function withOverrides(spec: TaskSpecInit, options: SubmitOptions): TaskSpecInit {
  const { idempotencyKey, tenant, priority } = options;
  return {
    ...spec,
    ...(idempotencyKey !== undefined && { idempotencyKey }),
    ...(tenant !== undefined && { tenant }),
    ...(priority !== undefined && { priority }),
  };
}

function normalizeBaseUrl(url: string): string {
  return url.includes("://") ? url : `http://${url}`;
}
