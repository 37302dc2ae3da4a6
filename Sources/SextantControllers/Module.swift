// SextantControllers: see docs/architecture.md
