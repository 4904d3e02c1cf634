// The client against a real `drover up` started here: one Drover for the whole file, stopped
// in `after` whatever happened.

import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { dirname, join } from "node:path";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import {
  ChatRole,
  Code,
  DroverClient,
  DroverError,
  ErrorReason,
  isTerminal,
  TaskState,
  WorkerKind,
  type StepSchema,
  type TaskEvent,
  type TaskSpecInit,
} from "@drover/client";
import type { MessageInitShape } from "@bufbuild/protobuf";
import { DroverUp } from "./drover-up.js";

let drover: DroverUp | undefined;
let client: DroverClient;

before(async () => {
  drover = await DroverUp.start();
  client = new DroverClient({ baseUrl: drover.baseUrl });
});

after(async () => {
  client?.close();
  await drover?.stop();
});

type StepInit = MessageInitShape<typeof StepSchema>;

/** No test may hang the run: each gets this long (it takes well under a second). */
const LIMIT = { timeout: 30_000 };

function dataUrl(html: string): string {
  return `data:text/html,${encodeURIComponent(html)}`;
}

const LIST_PAGE = dataUrl("<ul><li>alpha</li><li>beta</li></ul>");

/** navigate → extract → chat over the extracted values. */
const WORKFLOW: TaskSpecInit = {
  steps: [
    { name: "open", kind: { case: "navigate", value: { url: LIST_PAGE } } },
    { name: "items", kind: { case: "extract", value: { selector: "li", all: true } } },
    {
      name: "summary",
      kind: {
        case: "chat",
        value: {
          modelGroup: "default",
          messages: [{ role: ChatRole.USER, content: "Summarise: ${steps.items.values}" }],
        },
      },
    },
  ],
};

/** A task that stays RUNNING until cancelled: it waits for an element that never appears. */
function neverEnding(): TaskSpecInit {
  const steps: StepInit[] = [
    { name: "open", kind: { case: "navigate", value: { url: dataUrl("<p>nothing here</p>") } } },
    {
      name: "wait",
      timeout: { seconds: 120n },
      kind: { case: "waitFor", value: { condition: { case: "selector", value: "#never" } } },
    },
  ];
  return { steps };
}

async function collect(events: AsyncIterable<TaskEvent>): Promise<TaskEvent[]> {
  const all: TaskEvent[] = [];
  for await (const event of events) all.push(event);
  return all;
}

function completedSteps(events: TaskEvent[]): string[] {
  return events.flatMap((e) =>
    e.detail.case === "stepCompleted" ? [e.detail.value.output?.step ?? "?"] : [],
  );
}

test("submit, then watch: events in order from queued to finished, one step_completed per step", LIMIT, async () => {
  const submitted = await client.submit(WORKFLOW);
  assert.equal(submitted.created, true);
  assert.match(submitted.taskId, /\S/);

  const events = await collect(client.watch(submitted.taskId));

  assert.deepEqual(
    events.map((e) => e.sequence),
    events.map((_, i) => BigInt(i + 1)),
    "sequence numbers 1, 2, 3, …",
  );
  assert.ok(events.every((e) => e.taskId === submitted.taskId));
  assert.equal(events[0]?.detail.case, "queued");
  assert.equal(events[0]?.state, TaskState.QUEUED);
  assert.equal(events[1]?.detail.case, "assigned");
  const last = events.at(-1)!;
  assert.equal(last.detail.case, "finished");
  assert.equal(last.state, TaskState.SUCCEEDED);
  assert.deepEqual(completedSteps(events), ["open", "items", "summary"]);
  const outputs = events.flatMap((e) =>
    e.detail.case === "stepCompleted" && e.detail.value.output ? [e.detail.value.output] : [],
  );
  assert.deepEqual(
    outputs.map((o) => o.index),
    [0, 1, 2],
  );
  const extract = outputs[1]!.value;
  assert.equal(extract.case, "extract");
  assert.deepEqual(extract.value.values, ["alpha", "beta"]);
  const chat = outputs[2]!.value;
  assert.equal(chat.case, "chat");
  // The stand-in provider echoes the prompt: the template was filled with the values.
  assert.match(chat.value.content, /\["alpha","beta"\]/);
});

test("get returns the task with its outputs (or without them), NOT_FOUND for an unknown id", LIMIT, async () => {
  const { taskId } = await client.submit(WORKFLOW);
  await collect(client.watch(taskId));

  const task = await client.get(taskId);
  assert.equal(task.id, taskId);
  assert.equal(task.state, TaskState.SUCCEEDED);
  assert.deepEqual(
    task.outputs.map((o) => [o.step, o.value.case]),
    [
      ["open", "navigate"],
      ["items", "extract"],
      ["summary", "chat"],
    ],
  );
  assert.equal(task.spec?.steps.length, 3);

  const bare = await client.get(taskId, { omitOutputs: true });
  assert.equal(bare.state, TaskState.SUCCEEDED);
  assert.deepEqual(bare.outputs, []);

  const missing = await client.get("t-no-such-task").then(
    () => assert.fail("expected NOT_FOUND"),
    (error: unknown) => error,
  );
  assert.ok(missing instanceof DroverError);
  assert.equal(missing.code, Code.NotFound);
  assert.equal(missing.reason, "NOT_FOUND");
});

test("run waits for the terminal task and returns its outputs", LIMIT, async () => {
  const task = await client.run(WORKFLOW);
  assert.equal(task.state, TaskState.SUCCEEDED);
  assert.equal(task.outputs.length, 3);
  const chat = task.outputs[2]!.value;
  assert.equal(chat.case, "chat");
  assert.match(chat.value.content, /alpha/);
});

test("cancel stops a running task: the watch ends with CANCELLED and the reason", LIMIT, async () => {
  const { taskId } = await client.submit(neverEnding());
  const events: TaskEvent[] = [];
  let cancelledTo: TaskState | undefined;
  for await (const event of client.watch(taskId)) {
    events.push(event);
    // A browser worker has the task now.
    if (event.detail.case === "assigned") {
      assert.equal(event.state, TaskState.RUNNING);
      cancelledTo = await client.cancel(taskId, "the test is done waiting");
    }
  }
  assert.equal(cancelledTo, TaskState.CANCELLED);
  assert.deepEqual(
    events.map((e) => e.detail.case),
    ["queued", "assigned", "finished"],
  );
  const last = events.at(-1)!;
  assert.equal(last.state, TaskState.CANCELLED);
  assert.equal(last.detail.case, "finished");
  assert.equal(last.detail.value.error?.reason, ErrorReason.CANCELLED);

  const task = await client.get(taskId);
  assert.equal(task.state, TaskState.CANCELLED);
  assert.match(task.error?.message ?? "", /the test is done waiting/);
  // Cancelling a finished task changes nothing.
  assert.equal(await client.cancel(taskId), TaskState.CANCELLED);
});

test("a resubmit with the same idempotency key returns the same task", LIMIT, async () => {
  const idempotencyKey = `ts-client-${process.pid}-${Date.now()}`;
  const first = await client.submit(WORKFLOW, { idempotencyKey });
  const again = await client.submit(WORKFLOW, { idempotencyKey });
  assert.equal(first.created, true);
  assert.equal(again.created, false);
  assert.equal(again.taskId, first.taskId);
  // A different key is a different task.
  const other = await client.submit(WORKFLOW, { idempotencyKey: `${idempotencyKey}-other` });
  assert.notEqual(other.taskId, first.taskId);
  await Promise.all([first, other].map(({ taskId }) => collect(client.watch(taskId))));
});

test("INVALID_ARGUMENT comes back as a DroverError naming every offending field", LIMIT, async () => {
  const error = await client
    .submit({
      steps: [
        { name: "open", kind: { case: "navigate", value: { url: "file:///etc/passwd" } } },
        { name: "read", kind: { case: "extract", value: { selector: "" } } },
      ],
    })
    .then(
      () => assert.fail("expected INVALID_ARGUMENT"),
      (e: unknown) => e,
    );
  assert.ok(error instanceof DroverError, `not a DroverError: ${error}`);
  assert.equal(error.code, Code.InvalidArgument);
  assert.equal(error.reason, "INVALID_ARGUMENT");
  assert.equal(error.domain, "drover.dev");
  assert.match(error.violation("task.steps[0].navigate.url")?.description ?? "", /file/);
  assert.ok(
    error.violation("task.steps[1].extract.selector"),
    `fields: ${JSON.stringify(error.fields)}`,
  );
  assert.match(error.message, /^INVALID_ARGUMENT: /);
});

test("an aborted signal ends a watch and a call with Code.Canceled", LIMIT, async () => {
  const { taskId } = await client.submit(neverEnding());
  const abort = new AbortController();
  const seen: TaskEvent[] = [];
  const error = await (async () => {
    for await (const event of client.watch(taskId, { signal: abort.signal })) {
      seen.push(event);
      abort.abort();
    }
  })().then(
    () => assert.fail("expected the watch to fail"),
    (e: unknown) => e,
  );
  assert.ok(error instanceof DroverError, `not a DroverError: ${error}`);
  assert.equal(error.code, Code.Canceled);
  assert.equal(seen.length, 1);

  const early = await client.get(taskId, { signal: AbortSignal.abort() }).then(
    () => assert.fail("expected an aborted call"),
    (e: unknown) => e,
  );
  assert.ok(early instanceof DroverError);
  assert.equal(early.code, Code.Canceled);

  // Aborting stopped the watching only: the task goes on until cancelled.
  assert.ok(!isTerminal((await client.get(taskId)).state));
  assert.equal(await client.cancel(taskId), TaskState.CANCELLED);
});

test("clusterStatus lists a browser worker and an AI worker; list finds finished tasks", LIMIT, async () => {
  const status = await client.clusterStatus();
  const kinds = status.workers.map((w) => w.kind).sort();
  assert.deepEqual(kinds, [WorkerKind.BROWSER, WorkerKind.AI].sort());
  assert.ok(status.workers.every((w) => w.slots > 0));

  const { id } = await client.run(WORKFLOW);
  const succeeded: string[] = [];
  for await (const task of client.list({ states: [TaskState.SUCCEEDED], pageSize: 2 })) {
    assert.equal(task.state, TaskState.SUCCEEDED);
    succeeded.push(task.id);
  }
  assert.ok(succeeded.includes(id), `${id} not in ${succeeded}`);
  assert.equal(new Set(succeeded).size, succeeded.length, "pages do not repeat tasks");
});

test("the example runs its workflow and prints the result", LIMIT, async () => {
  const here = dirname(fileURLToPath(import.meta.url)); // dist/test
  const example = join(here, "..", "examples", "submit.js");
  const { stdout } = await promisify(execFile)(
    process.execPath,
    [example, "--scheduler", drover!.baseUrl],
    { timeout: 30_000 },
  );
  assert.match(stdout, /^task \S+: SUCCEEDED$/m);
  assert.match(stdout, /headlines: \[.*Warm browser pools replace a browser per task/);
  // The stand-in provider answers with (the start of) the prompt, filled in from the extract.
  assert.match(stdout, /summary: stand-in answer: .*Summarise: \["Warm browser pools/);
});

test("the client's headers go with every call; a call's own header wins", LIMIT, async () => {
  const sent: Array<[string | null, string | null]> = [];
  const recording = new DroverClient({
    baseUrl: drover!.baseUrl,
    headers: { "x-drover-team": "crawlers", "x-drover-trace": "client" },
    interceptors: [
      (next) => (request) => {
        sent.push([request.header.get("x-drover-team"), request.header.get("x-drover-trace")]);
        return next(request);
      },
    ],
  });
  try {
    await recording.clusterStatus();
    await recording.clusterStatus({ headers: { "x-drover-trace": "call" } });
  } finally {
    recording.close();
  }
  assert.deepEqual(sent, [
    ["crawlers", "client"],
    ["crawlers", "call"],
  ]);
});
