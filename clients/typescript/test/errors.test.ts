// DroverError from the details a failed call carries, without a server: the details are
// encoded as the scheduler encodes them in grpc-status-details-bin.

import assert from "node:assert/strict";
import { test } from "node:test";
import { create, toBinary, type DescMessage, type MessageInitShape } from "@bufbuild/protobuf";
import { durationFromMs } from "@bufbuild/protobuf/wkt";
import { ConnectError } from "@connectrpc/connect";
import { Code, DroverError } from "@drover/client";
import {
  BadRequestSchema,
  ErrorInfoSchema,
  RetryInfoSchema,
} from "../src/vendor/google/rpc/error_details_pb.js";

function detail<Desc extends DescMessage>(desc: Desc, init: MessageInitShape<Desc>) {
  return { type: desc.typeName, value: toBinary(desc, create(desc, init)) };
}

function failure(code: Code, message: string, details: ReturnType<typeof detail>[]) {
  const error = new ConnectError(message, code);
  error.details.push(...details);
  return error;
}

test("QUEUE_FULL with RetryInfo: reason, code and retryAfterMs", () => {
  const error = DroverError.from(
    failure(Code.ResourceExhausted, "the queue is full", [
      detail(ErrorInfoSchema, { reason: "QUEUE_FULL", domain: "drover.dev", metadata: { queue: "normal" } }),
      detail(RetryInfoSchema, { retryDelay: durationFromMs(1500) }),
    ]),
  );
  assert.equal(error.code, Code.ResourceExhausted);
  assert.equal(error.reason, "QUEUE_FULL");
  assert.equal(error.domain, "drover.dev");
  assert.deepEqual(error.info, { queue: "normal" });
  assert.equal(error.retryAfterMs, 1500);
  assert.deepEqual(error.fields, []);
  assert.equal(error.message, "QUEUE_FULL: the queue is full");
  assert.ok(error.cause instanceof ConnectError);
});

test("BadRequest violations become fields; the message names those it lacks", () => {
  const error = DroverError.from(
    failure(Code.InvalidArgument, "task.steps[0].navigate.url: bad scheme", [
      detail(ErrorInfoSchema, { reason: "INVALID_ARGUMENT", domain: "drover.dev" }),
      detail(BadRequestSchema, {
        fieldViolations: [
          { field: "task.steps[0].navigate.url", description: "bad scheme" },
          { field: "task.tenant", description: "too long" },
        ],
      }),
    ]),
  );
  assert.deepEqual(error.fields, [
    { field: "task.steps[0].navigate.url", description: "bad scheme" },
    { field: "task.tenant", description: "too long" },
  ]);
  assert.equal(error.violation("task.tenant")?.description, "too long");
  assert.equal(error.violation("task"), undefined);
  assert.equal(error.retryAfterMs, undefined);
  assert.equal(
    error.message,
    "INVALID_ARGUMENT: task.steps[0].navigate.url: bad scheme (task.tenant: too long)",
  );
});

test("a failure without details (not from Drover) keeps its code and has no reason", () => {
  const error = DroverError.from(new Error("connection refused"));
  assert.equal(error.code, Code.Unknown);
  assert.equal(error.reason, undefined);
  assert.deepEqual(error.fields, []);
  assert.equal(DroverError.from(error), error);
});
