"""One module per command (or command group) of the ``promptlane`` command line.

Each holds ``cmd_*(args) -> int`` handlers that ``promptlane.cli`` names as
``"module:function"`` and imports only when that command runs, plus the orchestration of
that command: open the repository, ask operations/evals/store/core, print, return an exit code.
"""
