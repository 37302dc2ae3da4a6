import Foundation
import SextantAPI
import SextantJSON
import Testing

/// The repository root, found from this file's path (Tests/SextantAPITests/Support.swift).
let repoRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()

/// Numbers compare by value (`1` == `1.0`): JSON does not distinguish them and Swift's encoder
/// writes `1.0` as `1`.
func sameJSON(_ a: JSONValue, _ b: JSONValue, path: String = "", differences: inout [String]) {
    switch (a, b) {
    case let (.object(x), .object(y)):
        for key in Set(x.keys).union(y.keys).sorted() {
            let p = path.isEmpty ? key : "\(path).\(key)"
            switch (x[key], y[key]) {
            case let (l?, r?): sameJSON(l, r, path: p, differences: &differences)
            case (_?, nil): differences.append("\(p): only in the first document")
            case (nil, _?): differences.append("\(p): only in the second document")
            default: break
            }
        }
    case let (.array(x), .array(y)):
        guard x.count == y.count else {
            differences.append("\(path): \(x.count) vs \(y.count) items")
            return
        }
        for (i, (l, r)) in zip(x, y).enumerated() { sameJSON(l, r, path: "\(path)[\(i)]", differences: &differences) }
    default:
        if let l = a.doubleValue, let r = b.doubleValue {
            if l != r { differences.append("\(path): \(l) vs \(r)") }
        } else if a != b {
            differences.append("\(path): \(a) vs \(b)")
        }
    }
}

/// Builds an object that sets every property the schema declares, with a value the schema allows.
func fullyPopulated(_ s: Schema) -> JSONValue {
    if s.preserveUnknownFields { return ["anyKey": ["nested": "value"]] }
    if s.intOrString { return s.sample ?? "1" }
    switch s.kind {
    case .object:
        var o: [String: JSONValue] = [:]
        for p in s.properties { o[p.name] = fullyPopulated(p.schema) }
        if let values = s.additionalProperties { o["some-key"] = fullyPopulated(values) }
        return .object(o)
    case .array:
        return .array(s.items.map { [fullyPopulated($0)] } ?? [])
    case .string:
        if let e = s.enumValues?.first { return .string(e) }
        return s.sample ?? s.defaultValue ?? "text"
    case .integer:
        if let d = s.defaultValue { return d }
        return s.minimum.flatMap(\.intValue).map { .int(Swift.max($0, 1)) } ?? 3
    case .number:
        if let d = s.defaultValue { return d }
        if let lo = s.minimum?.doubleValue { return .double(lo + 0.25) }
        return 0.5
    case .boolean:
        return true
    case nil:
        return "value"
    }
}

/// Paths of optional stored properties that are still nil, found by reflection. After decoding a
/// fully populated document, a nil means the Swift type has a field the schema does not declare.
func nilOptionals(_ value: Any, path: String = "", into out: inout [String]) {
    let mirror = Mirror(reflecting: value)
    switch mirror.displayStyle {
    case .optional:
        if let child = mirror.children.first {
            nilOptionals(child.value, path: path, into: &out)
        } else {
            out.append(path)
        }
    case .struct:
        for child in mirror.children {
            nilOptionals(child.value, path: path.isEmpty ? (child.label ?? "?") : "\(path).\(child.label ?? "?")", into: &out)
        }
    case .collection:
        for (i, child) in mirror.children.enumerated() { nilOptionals(child.value, path: "\(path)[\(i)]", into: &out) }
    case .dictionary:
        for child in mirror.children {
            let pair = Mirror(reflecting: child.value).children.map(\.value)
            if pair.count == 2 { nilOptionals(pair[1], path: "\(path)[\(pair[0])]", into: &out) }
        }
    default:
        break  // scalars, enums (JSONValue, Quantity): leaves
    }
}

/// Runs an external tool; nil when it is not installed.
func runTool(_ name: String, _ arguments: [String]) throws -> (status: Int32, output: String)? {
    guard let path = findExecutable(name) else { return nil }
    let process = Process()
    process.executableURL = URL(fileURLWithPath: path)
    process.arguments = arguments
    process.currentDirectoryURL = repoRoot
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = pipe
    try process.run()
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: data, as: UTF8.self))
}

func findExecutable(_ name: String) -> String? {
    let paths = (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":")
    for dir in paths {
        let candidate = "\(dir)/\(name)"
        if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
    }
    return nil
}

/// A missing tool fails the test, naming the tool (hack/install-deps.sh installs every one).
func toolMissing(_ name: String, hint: String) {
    Issue.record("\(name) is required but not installed (\(hint))")
}

/// The example files, each with the kind it declares.
func exampleFiles() throws -> [(url: URL, kind: String, json: JSONValue, text: String)] {
    let dir = repoRoot.appendingPathComponent("manifests/examples")
    let names = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasSuffix(".yaml") }.sorted()
    return try names.map { name in
        let url = dir.appendingPathComponent(name)
        let text = try String(contentsOf: url, encoding: .utf8)
        let json = try JSONValue.parseYAML(text)
        return (url, json["kind"]?.stringValue ?? "", json, text)
    }
}

/// Decodes and re-encodes a document through the Swift type of its kind.
func roundTrip(_ json: JSONValue, kind: String) throws -> JSONValue {
    switch kind {
    case "TrainingJob": return try JSONValue(encoding: try json.decode(as: TrainingJob.self))
    case "ModelVersion": return try JSONValue(encoding: try json.decode(as: ModelVersion.self))
    case "CanaryRollout": return try JSONValue(encoding: try json.decode(as: CanaryRollout.self))
    default: throw YAMLConversionError(message: "unknown kind \(kind)")
    }
}

func validationErrors(_ json: JSONValue, kind: String) throws -> [FieldError] {
    switch kind {
    case "TrainingJob": return try json.decode(as: TrainingJob.self).validate()
    case "ModelVersion": return try json.decode(as: ModelVersion.self).validate()
    case "CanaryRollout": return try json.decode(as: CanaryRollout.self).validate()
    default: throw YAMLConversionError(message: "unknown kind \(kind)")
    }
}
