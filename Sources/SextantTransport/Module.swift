// SextantTransport: see docs/architecture.md
