// SextantServing: see docs/architecture.md
