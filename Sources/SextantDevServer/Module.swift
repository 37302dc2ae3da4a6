// SextantDevServer: see docs/architecture.md
