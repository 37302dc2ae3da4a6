// SextantPrometheus: see docs/architecture.md
