"""Build the Pulumi engine, the Kubernetes provider and Kubernetes itself from the Go module proxy.

Each component is built once into ``<cache>/builds/<name>-<version>-r<recipe>/bin`` and linked into
``<cache>/bin``; ``python3 -m localcluster.toolchain`` (``make toolchain``) builds what is missing.

- ``components``: what is built (pinned in ``localcluster.versions``) and how, one function each;
- ``gobuild``: the wrapper module that builds an upstream module at a released version;
- ``install``: apt packages, the Go check, building and linking, the provider plugin;
- ``langhost/``: the Go source of our Python language host (see the README).
"""
