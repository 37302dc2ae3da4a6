// SextantOperator: see docs/architecture.md
