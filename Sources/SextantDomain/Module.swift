// SextantDomain: see docs/architecture.md
