"""The governed repository's files: everything that reads or writes them.

Cards and their texts, registry locks and snapshots, the changelog and the audit log (and
their sealed segments), eval results, review forms and reviewers, the policy file, the undo
journal that makes a multi-file write all-or-nothing, and the few facts asked of git.
Modules here read bytes and hand them to promptlane.core to judge.
"""
