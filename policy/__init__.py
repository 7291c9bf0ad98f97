"""The CrossGuard policy pack ``stateful-clusters``: this directory is the pack (``--policy-pack policy``).

``__main__.py`` serves the policies to the engine; the policies live in modules of their own and read
Kubernetes objects only, so tests and the offline review run them without the engine.
"""

from pathlib import Path

#: The pack's directory, for ``--policy-pack`` and the Automation API's ``policy_packs=``.
PACK_DIR = Path(__file__).resolve().parent
