"""Drive the Pulumi project with the Automation API: up, preview, destroy, and print endpoints.

    python3 -m localcluster.deploy up|preview|destroy|endpoints --stack NAME   (make deploy, preview, destroy)

The same commands work for any stack; the local stack additionally needs ``make cluster``. Every
preview and update runs the repository's CrossGuard policy pack (``stack``); ``up`` then waits for
every StatefulSet to be ready and prints the stable endpoints.
"""
