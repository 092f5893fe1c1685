"""The test bed: a Pulumi engine built from the Go module proxy, hosts in network namespaces, a local
registry and stand-in plugins. Never imported by the program (`__main__.py`, `components/`)."""
