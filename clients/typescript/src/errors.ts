// DroverError: a failed call as Drover reports it.
//
// The scheduler sends standard google.rpc details with every failed call, in the gRPC
// trailer grpc-status-details-bin: ErrorInfo (domain "drover.dev", reason e.g.
// "INVALID_ARGUMENT" or "QUEUE_FULL"), BadRequest (one violation per offending field) and
// RetryInfo (when to come back). connect-es parses the trailer into ConnectError details;
// this module reads them with the google.rpc descriptors and flattens them into one typed
// error, so callers branch on `reason` and `fields`, never on message text.

import { Code, ConnectError } from "@connectrpc/connect";
import { durationMs } from "@bufbuild/protobuf/wkt";
import {
  BadRequestSchema,
  ErrorInfoSchema,
  RetryInfoSchema,
} from "./vendor/google/rpc/error_details_pb.js";

export { Code } from "@connectrpc/connect";

/** The ErrorInfo domain of Drover's errors. */
export const ERROR_DOMAIN = "drover.dev";

/** One offending field of a request, from google.rpc.BadRequest. */
export interface FieldViolation {
  /** The field's path, for example `task.steps[0].navigate.url`. */
  readonly field: string;
  /** What is wrong with it. */
  readonly description: string;
}

/** A failed call to Drover, with the google.rpc details it carried. */
export class DroverError extends Error {
  override readonly name = "DroverError";
  /** The gRPC status code. */
  readonly code: Code;
  /**
   * The ErrorInfo reason: an ErrorReason name without its `ERROR_REASON_` prefix, for
   * example "INVALID_ARGUMENT", "NOT_FOUND" or "QUEUE_FULL". Undefined when the failure did
   * not come from Drover (a connection error, an aborted call).
   */
  readonly reason: string | undefined;
  /** The ErrorInfo domain ("drover.dev" for Drover's own errors). */
  readonly domain: string | undefined;
  /** The ErrorInfo metadata. */
  readonly info: Readonly<Record<string, string>>;
  /** The offending fields, for INVALID_ARGUMENT. */
  readonly fields: readonly FieldViolation[];
  /** How long to wait before retrying, from RetryInfo, if the server said. */
  readonly retryAfterMs: number | undefined;
  /** The server's message, without the code or the details. */
  readonly rawMessage: string;
  /** Response headers and trailers of the failed call. */
  readonly metadata: Headers;

  constructor(error: ConnectError) {
    const info = error.findDetails(ErrorInfoSchema)[0];
    const fields = error
      .findDetails(BadRequestSchema)
      .flatMap((badRequest) => badRequest.fieldViolations)
      .map(({ field, description }) => ({ field, description }));
    const retryDelay = error.findDetails(RetryInfoSchema)[0]?.retryDelay;
    const reason = info?.reason || undefined;
    super(describe(reason ?? Code[error.code], error.rawMessage, fields), { cause: error });
    this.code = error.code;
    this.reason = reason;
    this.domain = info?.domain || undefined;
    this.info = { ...info?.metadata };
    this.fields = fields;
    this.retryAfterMs = retryDelay ? durationMs(retryDelay) : undefined;
    this.rawMessage = error.rawMessage;
    this.metadata = error.metadata;
  }

  /** Any error as a DroverError (ConnectError.from wraps what is not a ConnectError). */
  static from(error: unknown): DroverError {
    return error instanceof DroverError ? error : new DroverError(ConnectError.from(error));
  }

  /** The violation naming exactly `field`, if there is one. */
  violation(field: string): FieldViolation | undefined {
    return this.fields.find((v) => v.field === field);
  }
}

/** `REASON: message`, plus the violations the message does not already name. */
function describe(kind: string, message: string, fields: readonly FieldViolation[]): string {
  const text = message ? `${kind}: ${message}` : kind;
  const unnamed = fields.filter((v) => !message.includes(v.field));
  if (unnamed.length === 0) return text;
  return `${text} (${unnamed.map((v) => `${v.field}: ${v.description}`).join("; ")})`;
}
