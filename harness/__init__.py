"""What the smoke tests and the benchmark use against a deployed stack, by its stable DNS names.

Kubernetes helpers (``kube``), waits with deadlines (``waits``), HTTP and DNS from this machine (``net``),
ZooKeeper clients, writer and quorum monitor (``zk``, ``quorum``), MySQL logins (``mysqldb``), the stack
driver and its outputs (``stack``), scratch stacks in namespaces of their own (``scratch``), and the
walkthrough runner (``walkthrough``). The cluster tests (``tests/cluster``) use ``waits`` and ``kube`` too.
"""
