"""The evaluation gate: promptfoo runs bound to a prompt's payload hash.

- ``config``:  the promptfoo config for one prompt (card steps, repo providers, its tests).
- ``runner``:  runs the pinned promptfoo under a timeout, offline, in a temp folder.
- ``results``: the normalised results file ``evals/results/<id>/<hash16>.json`` and the API the
  gates use (``load_results``, ``results_rel``).
- ``importer``: results produced elsewhere, accepted only when their prompts are this payload.
- ``plan``:    which prompts still owe results (a CI matrix).
- ``render``:  the promptfoo prompt function (stdlib only; copied into each run's temp folder).
"""

DEFAULT_TIMEOUT = 300.0  # seconds per prompt: `promptlane eval run --timeout`
