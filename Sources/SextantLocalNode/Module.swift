// SextantLocalNode: a development kubelet for the development API server; see docs/local-node.md
