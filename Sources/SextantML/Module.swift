// SextantML: see docs/architecture.md
