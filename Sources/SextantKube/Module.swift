// SextantKube: see docs/architecture.md
