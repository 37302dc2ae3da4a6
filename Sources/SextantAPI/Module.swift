// SextantAPI: see docs/architecture.md
