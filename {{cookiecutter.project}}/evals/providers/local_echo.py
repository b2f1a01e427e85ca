"""A deterministic, offline stand-in for a model, so the evals run anywhere: no key, no network.

It answers any prompt. A prompt that works from the help centre (the example support-reply
prompt: its texts name https://help.example.com/) is answered from a few canned articles
chosen by keyword, never repeating the customer's text. The calls of a chain get answers a
later call can build on: a prompt whose system message asks for JSON gets triage notes of its
last message as a JSON object (topic: the article its keywords point to, or "other"; urgent;
a short, redacted summary), and a prompt whose last message holds such notes (an earlier
call's output) gets the reply e-mail for their topic. Any other prompt gets a short reply
that restates its last message, with e-mail addresses and long digit runs redacted (so
personal data in a test cannot leak into the reply; a link's digits are kept, so the reply's
links are the prompt's). Token usage and cost are reported like a
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


EMAIL_LOCAL = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._%+-")
EMAIL_DOMAIN = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789.-")
DIGITS = re.compile(r"(?:\d[ -]?){7,}\d")
URL = re.compile(r"https?://[^\s\"')]+")  # as the starter hallucination test finds links
RESTATED_CHARS = 300


def redact_emails(text: str) -> str:
    """E-mail addresses (local@label.domain) replaced by [e-mail], in one pass over the text.

    A regular expression for them backtracks over every start of a long run of letters (a
    40,000-character word took seconds); this scan reads each character a bounded number of
    times. It finds what ``[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+\\.[A-Za-z0-9.-]+`` finds."""
    out, done, at = [], 0, text.find("@")
    while at != -1:
        start = at
        while start > done and text[start - 1] in EMAIL_LOCAL:
            start -= 1
        end = at + 1
        while end < len(text) and text[end] in EMAIL_DOMAIN:
            end += 1
        dot = text.find(".", at + 1, end)
        if start < at and dot > at + 1 and end > dot + 1:
            out += [text[done:start], "[e-mail]"]
            done = end
        at = text.find("@", max(at + 1, done))
    return "".join(out) + text[done:]


def redact(text: str) -> str:
    """E-mail addresses and long digit runs redacted; links kept whole (their digits are ids, and
    a reply must be able to repeat a link of the prompt), but an e-mail address in a link is not."""
    parts, done = [], 0
    for link in URL.finditer(text):
        parts += [DIGITS.sub("[number]", redact_emails(text[done:link.start()])), redact_emails(link[0])]
        done = link.end()
    return "".join(parts) + DIGITS.sub("[number]", redact_emails(text[done:]))


def as_text(value) -> str:
    """A prompt or message content as text: None is empty, a list of parts (OpenAI-style
    [{"type": "text", "text": ...}]) is their text, anything else its str()."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        texts = (part if isinstance(part, str) else part.get("text") if isinstance(part, dict) else None for part in value)
        return " ".join(text for text in texts if isinstance(text, str))
    return str(value)


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
    last = next((as_text(m.get("content")) for m in reversed(messages_of(prompt)) if m.get("role") != "system"), "")
    text = redact(" ".join(last.split()))
    if len(text) > RESTATED_CHARS:
        head = text[:RESTATED_CHARS].rsplit(" ", 1)[0]
        cut = next((link.start() for link in URL.finditer(text) if link.start() < len(head) < link.end()), None)
        text = (head if cut is None else head[:cut].rstrip()) + " ..."  # never half a link
    return f"Thank you. You wrote: \"{text}\". Here is a short, careful answer to that request."


URGENT = ("urgent", "asap", "immediately", "right now", "twice")
SUMMARY_CHARS = 120


def system_text(prompt: str) -> str:
    return " ".join(as_text(m.get("content")) for m in messages_of(prompt) if m.get("role") == "system")


def last_message(prompt: str) -> str:
    return next((as_text(m.get("content")) for m in reversed(messages_of(prompt)) if m.get("role") != "system"), "")


def triage(text: str) -> dict:
    """Notes of a customer's message: its topic, whether it is urgent, a short redacted summary.
    A first line that only labels the message ("Customer message:") is not summarised."""
    lines = text.strip().splitlines()
    if len(lines) > 1 and lines[0].rstrip().endswith(":"):
        lines = lines[1:]
    body = " ".join(" ".join(lines).split())
    lowered = body.lower()
    topic = next((article for keywords, _, article in ARTICLES if any(word in lowered for word in keywords)), "other")
    summary = redact(body)
    if len(summary) > SUMMARY_CHARS:
        summary = summary[:SUMMARY_CHARS].rsplit(" ", 1)[0] + " ..."
    return {"topic": topic, "urgent": any(word in lowered for word in URGENT), "summary": summary}


def notes_in(text: str) -> dict | None:
    """The first JSON object with a "topic" in ``text`` (triage notes an earlier call wrote)."""
    decoder, at = json.JSONDecoder(), text.find("{")
    while at != -1:
        try:
            value, _ = decoder.raw_decode(text, at)
        except ValueError:
            value = None
        if isinstance(value, dict) and isinstance(value.get("topic"), str):
            return value
        at = text.find("{", at + 1)
    return None


def reply_from_notes(customer_name: str, notes: dict) -> str:
    """The reply e-mail for triage notes: the article of their topic (a specialist for any other)."""
    found = next(((answer, article) for _, answer, article in ARTICLES if article == notes["topic"]), None)
    body, link = found if found else (FALLBACK, "contact")
    if notes.get("urgent") is True:
        body += " We have marked your request as urgent."
    greeting = f"Hi {customer_name}," if customer_name else "Hello,"
    return (f"{greeting}\n\nThank you for getting in touch. {body}\n\nMore help: {HELP_CENTRE + link}\n\n"
            "Best regards,\nCustomer Support")


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _mapping(value) -> dict:
    return value if isinstance(value, dict) else {}


def call_api(prompt, options: dict, context: dict) -> dict:
    if not isinstance(prompt, str):  # promptfoo sends text; anything else is read, never raised on
        prompt = json.dumps(prompt, default=str) if isinstance(prompt, (list, dict)) else as_text(prompt)
    config = _mapping(_mapping(options).get("config"))
    # The price per 1k tokens: the config's where it is a number ("0.1" is not), else the default.
    price = {key: config[key] if _number(config.get(key)) else default for key, default in DEFAULT_PRICE.items()}
    variables = _mapping(_mapping(context).get("vars"))
    if "help.example.com" in prompt:  # the example support prompt: answer from the help centre
        output = reply(str(variables.get("customer_name", "")), str(variables.get("question", "")))
    elif "JSON" in system_text(prompt):  # a chain's first call: notes an answer can be built on
        output = json.dumps(triage(last_message(prompt)), ensure_ascii=False)
    elif (notes := notes_in(last_message(prompt))) is not None:  # a later call, given those notes
        output = reply_from_notes(str(variables.get("customer_name", "")), notes)
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
