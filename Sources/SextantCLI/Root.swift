import ArgumentParser

/// `sextant`: the command-line tool, also installed as the kubectl plugin `kubectl-sextant`.
public struct Sextant: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "sextant",
        abstract: "Sextant: train, register and roll out machine-learning models on Kubernetes.",
        subcommands: Sextant.commands
    )

    public init() {}
}
