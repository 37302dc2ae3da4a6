import SextantCLI

// Through our own entry point: not-found and server errors exit 1 without usage text.
await Sextant.runMain()
