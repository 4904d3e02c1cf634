// A real Drover for the tests: `drover up` (scheduler, one browser, the AI router with its
// labelled stand-in provider) on an ephemeral port, stopped with SIGTERM.

import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { resolve } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

/** How long `drover up` may take to report its address (it starts Chromium). */
const START_TIMEOUT_MS = 60_000;
/** How long a SIGTERMed `drover up` may take to drain and exit before it is killed. */
const STOP_TIMEOUT_MS = 20_000;

const READY = /drover up: scheduler listening on (\S+)/;

/** The drover binary: $DROVER_BIN, else the workspace's debug build. */
export function droverBin(): string {
  const here = fileURLToPath(new URL(".", import.meta.url)); // clients/typescript/dist/test/
  return process.env.DROVER_BIN || resolve(here, "../../../../target/debug/drover");
}

export class DroverUp {
  private constructor(
    private readonly child: ChildProcess,
    /** `http://127.0.0.1:PORT` of the scheduler. */
    readonly baseUrl: string,
    private readonly log: string[],
  ) {}

  static async start(): Promise<DroverUp> {
    const child = spawn(
      droverBin(),
      ["up", "--listen", "127.0.0.1:0", "--metrics-listen", "off", "--browsers", "1"],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    // Kept for the failure message; drover logs to stderr.
    const log: string[] = [];
    createInterface({ input: child.stderr! }).on("line", (line) => {
      log.push(line);
      if (log.length > 200) log.shift();
    });
    const lines = createInterface({ input: child.stdout! });
    try {
      const address = await new Promise<string>((resolveAddress, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`drover up did not report its address in ${START_TIMEOUT_MS} ms`)),
          START_TIMEOUT_MS,
        );
        lines.on("line", (line) => {
          const ready = READY.exec(line);
          if (ready) {
            clearTimeout(timer);
            resolveAddress(ready[1]!);
          }
        });
        child.once("error", (error) => {
          clearTimeout(timer);
          reject(error);
        });
        child.once("exit", (code, signal) => {
          clearTimeout(timer);
          reject(new Error(`drover up exited early (code ${code}, signal ${signal})`));
        });
      });
      return new DroverUp(child, `http://${address}`, log);
    } catch (error) {
      const up = new DroverUp(child, "", log);
      await up.stop();
      throw new Error(`${(error as Error).message}\n${log.join("\n")}`);
    }
  }

  /** SIGTERM, then wait for the exit (SIGKILL after a grace period). Returns the exit code. */
  async stop(): Promise<number | null> {
    const { child } = this;
    // No pid: it never started. An exit code or signal: it already ended.
    if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) {
      return child.exitCode;
    }
    const exited = once(child, "exit") as Promise<[number | null, NodeJS.Signals | null]>;
    child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), STOP_TIMEOUT_MS);
    const [code] = await exited;
    clearTimeout(timer);
    return code;
  }

  /** The last lines drover logged, for a failing test's message. */
  recentLog(): string {
    return this.log.join("\n");
  }
}
