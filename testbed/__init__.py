"""The test bed: a Pulumi engine built from the Go module proxy, the real provider plugins and python
language host built from their upstream source, hosts in network namespaces, a local registry and
images. Never imported by the program (`__main__.py`, `components/`)."""
