"""The pure core: rules that decide, on plain values, with no file, git or process.

Payload hashing, semver bumps, the card model and its checks, the policy and the gate
decisions, which review forms count, the audit chain and the changelog's text, the merge of
two branches' logs. Everything else in promptlane gathers inputs for these and acts on what
they decide. Only promptlane's own bundled data (schemas, the price table) is read here.
"""
