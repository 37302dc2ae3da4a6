import ArgumentParser
import Foundation
import SextantKube
import SextantRevision
import SextantVersion

/// `sextant`: the command-line tool, also installed as the kubectl plugin `kubectl-sextant`.
public struct Sextant: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "sextant",
        abstract: "Sextant: train, register and roll out machine-learning models on Kubernetes.",
        version: SextantVersion.description,
        subcommands: Sextant.commands
    )

    public init() {}

    /// The entry point of the `sextant` binary. Failures of a command that parsed (an object that
    /// does not exist, an error from the server) print their message on stderr and exit 1, like
    /// kubectl; only usage errors print the usage text (exit 64).
    public static func runMain(_ arguments: [String]? = nil) async -> Never {
        do {
            var command = try parseAsRoot(arguments)
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
            Foundation.exit(0)
        } catch let failure as CLIFailure {
            fail(failure.description)
        } catch let error as KubeError {
            fail("Error from server (\(error.status.reason ?? "\(error.code)")): \(error.status.message ?? error.description)")
        } catch let error as KubeConfigError {
            fail("error: \(error.description)")
        } catch {
            exit(withError: error)
        }
    }

    static func fail(_ message: String) -> Never {
        FileHandle.standardError.write(Data((message + "\n").utf8))
        Foundation.exit(1)
    }
}

/// A command that parsed but could not do its work: reported as its message alone, exit code 1.
struct CLIFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// `sextant version`: the same line as `--version`, with the name of the program.
struct Version: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print the version and the git revision this binary was built from.")

    func run() {
        print("sextant \(SextantVersion.description)")
    }
}
