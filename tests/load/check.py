"""Checks one ghz run for scripts/load.sh: the JSON report, and the tasks the run created.

    check.py REPORT [--scheduler HOST:PORT --tenant NAME]

Prints one line: `NAME  N requests  R rps  p50 X ms  p99 Y ms  E errors`.

Fails (exit 1) when the report counts an error or a status other than OK. ghz only sees
gRPC statuses, and RunTask answers OK with a task that FAILED or EXPIRED, so with
--scheduler it also reads back the tenant's tasks (the configs put each run's tasks under a
tenant of their own): it waits, bounded, for queued and running ones to finish (SubmitTask
returns before its task runs), then fails unless every one SUCCEEDED and there is exactly one
per request. Runs in tools/venv, with the generated Python code of clients/python on the path.
"""

import argparse
import json
import pathlib
import sys
import time

import grpc

from drover.v1 import scheduler_pb2, scheduler_pb2_grpc, task_pb2

# How long the tasks of a submit run may take to drain after its last request.
DRAIN_LIMIT_S = 120.0
TERMINAL = {
    task_pb2.TASK_STATE_SUCCEEDED,
    task_pb2.TASK_STATE_FAILED,
    task_pb2.TASK_STATE_CANCELLED,
    task_pb2.TASK_STATE_EXPIRED,
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("report", type=pathlib.Path)
    parser.add_argument("--scheduler", help="the scheduler's HOST:PORT")
    parser.add_argument("--tenant", help="the tenant the run's tasks were submitted under")
    args = parser.parse_args()
    if bool(args.scheduler) != bool(args.tenant):
        parser.error("--scheduler and --tenant go together")

    report = json.loads(args.report.read_text())
    name = args.report.stem
    problems = report_problems(report)
    print(summary(name, report), flush=True)
    if args.scheduler and not problems:
        problems = task_problems(args.scheduler, args.tenant, ok_count(report))
    for problem in problems:
        print(f"  {name}: {problem}", file=sys.stderr)
    return 1 if problems else 0


def summary(name: str, report: dict) -> str:
    percentiles = {p["percentage"]: p["latency"] for p in report.get("latencyDistribution") or []}

    def ms(percentage: int) -> str:
        latency = percentiles.get(percentage)
        return "-" if latency is None else f"{latency / 1e6:.1f} ms"

    return (
        f"{name:<12} {report['count']:>5} requests  {report['rps']:8.1f} rps  "
        f"p50 {ms(50):>9}  p99 {ms(99):>9}  {error_count(report)} errors"
    )


def error_count(report: dict) -> int:
    return sum((report.get("errorDistribution") or {}).values())


def ok_count(report: dict) -> int:
    return (report.get("statusCodeDistribution") or {}).get("OK", 0)


def report_problems(report: dict) -> list[str]:
    problems = []
    if report.get("endReason") != "normal":
        problems.append(f"ghz ended early: {report.get('endReason')}")
    for message, count in (report.get("errorDistribution") or {}).items():
        problems.append(f"{count} x {message}")
    for status, count in (report.get("statusCodeDistribution") or {}).items():
        if status != "OK":
            problems.append(f"{count} x status {status}")
    if ok_count(report) != report["count"]:
        problems.append(f"{ok_count(report)} of {report['count']} requests answered OK")
    return problems


def task_problems(scheduler: str, tenant: str, expected: int) -> list[str]:
    with grpc.insecure_channel(scheduler) as channel:
        stub = scheduler_pb2_grpc.SchedulerServiceStub(channel)
        give_up = time.monotonic() + DRAIN_LIMIT_S
        while True:
            tasks = list_tasks(stub, tenant)
            unfinished = [t for t in tasks if t.state not in TERMINAL]
            if not unfinished or time.monotonic() > give_up:
                break
            time.sleep(0.25)  # polling for the drain, not timing anything

    problems = []
    if unfinished:
        problems.append(f"{len(unfinished)} tasks still unfinished after {DRAIN_LIMIT_S:.0f} s")
    failed = [t for t in tasks if t.state in TERMINAL - {task_pb2.TASK_STATE_SUCCEEDED}]
    if failed:
        first = failed[0]
        problems.append(
            f"{len(failed)} tasks did not succeed; e.g. {first.id} "
            f"{task_pb2.TaskState.Name(first.state)}: {first.error.message}"
        )
    if len(tasks) != expected:
        problems.append(f"tenant {tenant} has {len(tasks)} tasks, expected {expected}")
    return problems


def list_tasks(stub: scheduler_pb2_grpc.SchedulerServiceStub, tenant: str) -> list:
    tasks, token = [], ""
    while True:
        page = stub.ListTasks(
            scheduler_pb2.ListTasksRequest(tenant=tenant, page_size=1000, page_token=token),
            timeout=30,
        )
        tasks.extend(page.tasks)
        token = page.next_page_token
        if not token:
            return tasks


if __name__ == "__main__":
    sys.exit(main())
