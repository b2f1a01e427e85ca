"""A deterministic, offline stand-in for a model, so the evals run anywhere: no key, no network.

It answers any prompt. A prompt that works from the help centre (the example support-reply
prompt: its texts name https://help.example.com/) is answered from a few canned articles
chosen by keyword, never repeating the customer's text; any other prompt gets a short reply
that restates its last message, with e-mail addresses and long digit runs redacted (so
personal data in a test cannot leak into the reply). Token usage and cost are reported like a
real provider's, so cost and token assertions have something to check. The same input always
gives the same output. Swap it for a real provider (e.g. openai:chat:gpt-4o-mini) in
eval-config.promptfoo.yml.
"""
from __future__ import annotations

import json
import math
import re

HELP_CENTRE = "https://help.example.com/articles/"
# (keywords, answer, article): the first entry whose keyword occurs in the question wins.
ARTICLES = [
    (("password", "log in", "login", "sign in"),
     "To reset your password, choose \"Forgot password\" on the sign-in page and follow the link "
     "we e-mail you; the link is valid for 24 hours.",
     "reset-password"),
    (("refund", "money back", "return"),
     "You can ask for a refund within 30 days of purchase from Orders > Request a refund; "
     "refunds reach your account within 5 business days.",
     "refunds"),
    (("invoice", "receipt", "billing"),
     "Invoices for every payment are under Billing > Invoices, where you can download them as PDF.",
     "invoices"),
]
FALLBACK = ("I could not find this in our help centre, so I have passed your question to a "
            "specialist, who will reply within one business day.")
DEFAULT_PRICE = {"input_per_1k": 0.00015, "output_per_1k": 0.0006}  # gpt-4o-mini list price, USD


def estimate_tokens(text: str) -> int:
    """About four characters a token: a stable estimate, not a tokenizer."""
    return max(1, math.ceil(len(text) / 4))


def reply(customer_name: str, question: str) -> str:
    lowered = question.lower()
    for keywords, answer, article in ARTICLES:
        if any(word in lowered for word in keywords):
            body, link = answer, HELP_CENTRE + article
            break
    else:
        body, link = FALLBACK, HELP_CENTRE + "contact"
    greeting = f"Hi {customer_name}," if customer_name else "Hello,"
    return f"{greeting}\n\nThank you for getting in touch. {body}\n\nMore help: {link}\n\nBest regards,\nCustomer Support"


EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+\.[A-Za-z0-9.-]+")
DIGITS = re.compile(r"(?:\d[ -]?){7,}\d")
RESTATED_CHARS = 300


def messages_of(prompt: str) -> list[dict]:
    """The chat messages promptfoo sends (a JSON list), or the prompt as one user message."""
    try:
        parsed = json.loads(prompt)
    except ValueError:
        parsed = None
    if isinstance(parsed, list) and all(isinstance(m, dict) for m in parsed):
        return parsed
    return [{"role": "user", "content": prompt}]


def restate(prompt: str) -> str:
    """A reply to any prompt: its last message, redacted and shortened, and nothing invented."""
    last = next((str(m.get("content", "")) for m in reversed(messages_of(prompt)) if m.get("role") != "system"), "")
    text = DIGITS.sub("[number]", EMAIL.sub("[e-mail]", " ".join(last.split())))
    if len(text) > RESTATED_CHARS:
        text = text[:RESTATED_CHARS].rsplit(" ", 1)[0] + " ..."
    return f"Thank you. You wrote: \"{text}\". Here is a short, careful answer to that request."


def call_api(prompt: str, options: dict, context: dict) -> dict:
    variables = (context or {}).get("vars") or {}
    config = (options or {}).get("config") or {}
    price = {**DEFAULT_PRICE, **{k: config[k] for k in DEFAULT_PRICE if k in config}}
    if "help.example.com" in prompt:  # the example support prompt: answer from the help centre
        output = reply(str(variables.get("customer_name", "")), str(variables.get("question", "")))
    else:
        output = restate(prompt)
    prompt_tokens, completion_tokens = estimate_tokens(prompt), estimate_tokens(output)
    cost = prompt_tokens / 1000 * price["input_per_1k"] + completion_tokens / 1000 * price["output_per_1k"]
    return {
        "output": output,
        "tokenUsage": {"prompt": prompt_tokens, "completion": completion_tokens,
                       "total": prompt_tokens + completion_tokens},
        "cost": round(cost, 8),
    }
