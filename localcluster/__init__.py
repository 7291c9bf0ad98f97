"""Build and run a real multi-node Kubernetes cluster on this machine, from source, offline."""
