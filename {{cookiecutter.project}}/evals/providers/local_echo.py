"""A deterministic, offline stand-in for a model, so the evals run anywhere: no key, no network.

It answers from a few canned help-centre articles chosen by keyword, never repeats the
customer's text (so personal data in a question cannot leak into the reply), and reports
token usage and cost like a real provider, so cost and token assertions have something to
check. Swap it for a real provider (e.g. openai:chat:gpt-4o-mini) in eval-config.promptfoo.yml.
"""
from __future__ import annotations

import math

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


def call_api(prompt: str, options: dict, context: dict) -> dict:
    variables = (context or {}).get("vars") or {}
    config = (options or {}).get("config") or {}
    price = {**DEFAULT_PRICE, **{k: config[k] for k in DEFAULT_PRICE if k in config}}
    output = reply(str(variables.get("customer_name", "")), str(variables.get("question", "")))
    prompt_tokens, completion_tokens = estimate_tokens(prompt), estimate_tokens(output)
    cost = prompt_tokens / 1000 * price["input_per_1k"] + completion_tokens / 1000 * price["output_per_1k"]
    return {
        "output": output,
        "tokenUsage": {"prompt": prompt_tokens, "completion": completion_tokens,
                       "total": prompt_tokens + completion_tokens},
        "cost": round(cost, 8),
    }
