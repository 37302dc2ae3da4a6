import ArgumentParser
import SextantCLI

// Calls the async entry point explicitly: top-level `await Sextant.main()` would pick the
// synchronous overload of ParsableCommand.
func runAsync<Command: AsyncParsableCommand>(_ command: Command.Type) async { await command.main() }
await runAsync(Sextant.self)
