"""Pure specs of the local cluster: paths and addresses, component command lines, config files, objects."""
