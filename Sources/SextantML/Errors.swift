// Errors of the trainer, each classified so the executable can map it to an exit code.

/// What kind of failure happened; the `sextant-trainer` exit code is derived from it.
public enum TrainerFailureKind: Sendable, Equatable {
    /// The config, the data or a flag is wrong: fixing the input fixes the run.
    case badInput
    /// Input was fine but an evaluation or data-quality gate did not pass.
    case gateFailed
    /// Reading or writing data or artifacts failed (network, disk).
    case io
}

/// An error with a message that names the field, column, row or value at fault.
public struct TrainerError: Error, Sendable, CustomStringConvertible, Equatable {
    public let kind: TrainerFailureKind
    public let message: String

    public init(_ kind: TrainerFailureKind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    public static func badInput(_ message: String) -> TrainerError { TrainerError(.badInput, message) }
    public static func io(_ message: String) -> TrainerError { TrainerError(.io, message) }

    public var description: String { message }
}
