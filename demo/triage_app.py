"""The demo's application: run the triage-reply chain that prod serves, from an exported bundle.

    python demo/triage_app.py BUNDLE TRACE_LOG      (run by demo/run_demo.py inside its repository)

It is what an application does with promptlane.runtime (docs/runtime.md, "Chains"): load the
bundle `promptlane registry export json` wrote, get the version prod serves (its hash is
verified, and a withdrawn version is refused), and `prompt.run(call_model, **inputs)`: one
model call per call of the chain, in order, each earlier output put into the next call's
text, every call traced to TRACE_LOG. `call_model` is local and deterministic: it answers with
the repository's own offline stand-in, evals/providers/local_echo.py, the provider the evals
ran against, so no key and no network are needed.
"""
from __future__ import annotations

import importlib.util
import json
import os
import sys
from pathlib import Path

from promptlane import runtime

PROMPT = "triage-reply"
CUSTOMER = {"customer_name": "Ben",
            "message": "I was charged twice for last week's order, I want my money back. Mail me at ben@example.com."}


def stand_in():
    """evals/providers/local_echo.py of the repository the demo runs in (the current folder)."""
    spec = importlib.util.spec_from_file_location("local_echo", Path("evals/providers/local_echo.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def client(inputs: dict):
    """A call_model(messages, model) for these inputs: the stand-in's answer, with its usage."""
    echo = stand_in()

    def call_model(messages: list[dict], model: dict) -> runtime.Reply:
        answer = echo.call_api(json.dumps(messages), {}, {"vars": inputs})
        print(f"  call_model: {len(messages)} messages to {model['provider']}:{model['name']} "
              f"(temperature {model['params'].get('temperature')}, max_tokens {model['params'].get('max_tokens')})")
        usage = answer["tokenUsage"]
        return runtime.Reply(answer["output"], input_tokens=usage["prompt"], output_tokens=usage["completion"],
                             cost_usd=answer["cost"])

    return call_model


def main(argv: list[str]) -> int:
    bundle, trace_log = argv
    runtime.load(bundle)
    prompt = runtime.get(PROMPT, env="prod", refuse_withdrawn=True)
    print(f"{PROMPT} {prompt.version} ({prompt.hash[:23]}...), served by {prompt.environment}; "
          f"a chain: {prompt.is_chain}, calls: {', '.join(call.name for call in prompt.calls)}")
    os.environ["PROMPTLANE_TRACE_LOG"] = trace_log  # where prompt.run writes its trace records
    result = prompt.run(client(CUSTOMER), **CUSTOMER)
    for call in result.calls:
        print(f"output of {call.name} ({call.input_tokens}+{call.output_tokens} tokens):")
        print("\n".join(f"    {line}" for line in call.output.splitlines()))
    print(f"chain: {len(result.calls)} calls, {result.input_tokens + result.output_tokens} tokens, "
          f"${result.cost_usd:.6f}; trace {result.trace_id}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
