#!/usr/bin/env python3
"""Submit a small workflow to Drover and print its result.

The workflow opens a page (a data: URL, so it needs no website), extracts every row of its
table, and asks the AI model group "default" to summarise the extracted rows; the chat step's
prompt refers to the extract step's output as ${steps.rows.values}.

    drover up                                   # in another terminal
    python examples/submit.py --scheduler 127.0.0.1:50051

With `drover up`'s stand-in provider the summary is a labelled fake ("stand-in answer: ...")
that echoes the start of the prompt; with a real provider it is the model's answer.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any
from urllib.parse import quote

from drover import Client, DroverError, state_name
from drover.v1 import task_pb2

PRODUCTS = [("Anvil", "120.00", 4), ("Bellows", "35.50", 12), ("Chisel", "8.25", 40)]


def workflow() -> dict[str, Any]:
    # Spaces between the cells keep them apart in each row's extracted text.
    rows = "".join(
        f"<tr><td>{name}</td> <td>{price}</td> <td>{stock}</td></tr>" for name, price, stock in PRODUCTS
    )
    page = f"<h1>Products</h1><table id='products'><tbody>{rows}</tbody></table>"
    return {
        "tenant": "examples",
        "timeout": "60s",
        "steps": [
            {"name": "open", "navigate": {"url": "data:text/html," + quote(page)}},
            {"name": "rows", "extract": {"selector": "#products tbody tr", "all": True}},
            {
                "name": "summary",
                "chat": {
                    "model_group": "default",
                    "messages": [
                        {
                            "role": "CHAT_ROLE_SYSTEM",
                            "content": "You summarise product tables in one sentence.",
                        },
                        {"role": "CHAT_ROLE_USER", "content": "Rows: ${steps.rows.values}"},
                    ],
                    "sampling": {"temperature": 0},
                },
            },
        ],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--scheduler",
        default=None,
        help="host:port or http(s)://host:port (default: $DROVER_SCHEDULER, else 127.0.0.1:50051)",
    )
    args = parser.parse_args()

    with Client(args.scheduler) as client:
        try:
            task = client.run(workflow(), timeout=90)
        except DroverError as error:
            print(f"submit.py: {error}", file=sys.stderr)
            return 1

    print(f"task {task.id}: {state_name(task.state)}")
    for output in task.outputs:
        kind = output.WhichOneof("value")
        if kind == "extract":
            print(f"  {output.step}: {list(output.extract.values)}")
        elif kind == "chat":
            print(f"  {output.step}: {output.chat.content}")
        elif kind == "navigate":
            print(f"  {output.step}: HTTP {output.navigate.status}")
    if task.state != task_pb2.TASK_STATE_SUCCEEDED:
        print(f"submit.py: the task did not succeed: {task.error.message}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
