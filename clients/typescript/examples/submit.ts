// Runs a small workflow on Drover and prints its result: open a page, extract its list items,
// and have the AI router summarise them (`${steps.headlines.values}` is the extract step's
// values as a JSON array).
//
// usage: node dist/examples/submit.js [--scheduler http://127.0.0.1:50051]

import { parseArgs } from "node:util";
import { durationFromMs } from "@bufbuild/protobuf/wkt";
import {
  ChatRole,
  DroverClient,
  DroverError,
  TaskState,
  type StepOutput,
  type TaskSpecInit,
} from "@drover/client";

const { values: flags } = parseArgs({
  options: {
    scheduler: { type: "string", default: process.env.DROVER_SCHEDULER ?? "http://127.0.0.1:50051" },
  },
});

const page = `<title>Release notes</title>
<ul>
  <li>Warm browser pools replace a browser per task</li>
  <li>One retry layer with a shared budget</li>
  <li>Leases requeue work from lost workers</li>
</ul>`;

const workflow: TaskSpecInit = {
  timeout: durationFromMs(60_000),
  steps: [
    {
      name: "open",
      kind: { case: "navigate", value: { url: `data:text/html,${encodeURIComponent(page)}` } },
    },
    {
      name: "headlines",
      kind: { case: "extract", value: { selector: "li", all: true } },
    },
    {
      name: "summary",
      kind: {
        case: "chat",
        value: {
          modelGroup: "default",
          messages: [
            { role: ChatRole.SYSTEM, content: "You summarise release notes in one sentence." },
            { role: ChatRole.USER, content: "Summarise: ${steps.headlines.values}" },
          ],
        },
      },
    },
  ],
};

/** One line per step output. */
function describe(output: StepOutput): string {
  switch (output.value.case) {
    case "navigate":
      return `${output.value.value.url.slice(0, 40)}… (status ${output.value.value.status})`;
    case "extract":
      return JSON.stringify(output.value.value.values);
    case "chat":
      return output.value.value.content;
    default:
      return output.value.case ?? "(nothing)";
  }
}

const client = new DroverClient({ baseUrl: flags.scheduler });
try {
  const task = await client.run(workflow);
  console.log(`task ${task.id}: ${TaskState[task.state]}`);
  for (const output of task.outputs) console.log(`  ${output.step}: ${describe(output)}`);
  if (task.state !== TaskState.SUCCEEDED) {
    console.error(`step ${task.error?.step || "-"} failed: ${task.error?.message}`);
    process.exitCode = 1;
  }
} catch (error) {
  // A refused call: the reason and every offending field.
  if (!(error instanceof DroverError)) throw error;
  console.error(`submit failed: ${error.message}`);
  for (const { field, description } of error.fields) console.error(`  ${field}: ${description}`);
  process.exitCode = 1;
} finally {
  client.close();
}
