"""App-agnostic building blocks: labels, validated arguments, pure spec builders and the StatefulService component."""
