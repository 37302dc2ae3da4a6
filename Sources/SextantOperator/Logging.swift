import Foundation
import Logging
import SextantJSON
import SextantKubeTypes

/// One JSON object per line on stderr (`ts`, `level`, `logger`, `msg`, then metadata), the
/// shape log pipelines (Loki, Elasticsearch, Cloud Logging) ingest without parsing rules.
public struct JSONLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level = .info
    let label: String
    let write: @Sendable (String) -> Void

    public init(label: String, write: @escaping @Sendable (String) -> Void = { line in
        FileHandle.standardError.write(Data((line + "\n").utf8))
    }) {
        self.label = label
        self.write = write
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        let level = event.level, message = event.message, explicit = event.metadata
        let file = event.file, line = event.line
        var fields: [String: JSONValue] = [
            "ts": .string(KubeTime.format(Date(), fractionDigits: 3)),
            "level": .string(level.rawValue),
            "logger": .string(label),
            "msg": .string(message.description),
        ]
        for (key, value) in metadata.merging(explicit ?? [:], uniquingKeysWith: { $1 }) where fields[key] == nil {
            fields[key] = Self.json(value)
        }
        if let error = event.error { fields["error"] = .string("\(error)") }
        if level >= .error { fields["caller"] = .string("\((file as NSString).lastPathComponent):\(line)") }
        write(JSONValue.object(fields).jsonString())
    }

    static func json(_ value: Logger.MetadataValue) -> JSONValue {
        switch value {
        case .string(let s): return .string(s)
        case .stringConvertible(let c): return .string(c.description)
        case .array(let a): return .array(a.map(json))
        case .dictionary(let d): return .object(d.mapValues(json))
        }
    }
}

/// Process-wide logging setup for the operator executable.
public enum OperatorLogging {
    /// Call once at startup: JSON lines when `json`, otherwise swift-log's text output.
    public static func bootstrap(json: Bool, level: Logger.Level = .info) {
        LoggingSystem.bootstrap { label in
            var handler: any LogHandler = json ? JSONLogHandler(label: label) : StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
    }
}
