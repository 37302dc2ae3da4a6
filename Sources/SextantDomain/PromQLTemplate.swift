import Foundation

/// A PromQL query with `{{ variable }}` placeholders (spaces inside the braces optional), as in
/// retrain conditions and analysis metrics: `sextant_model_accuracy{model="{{ model }}"}`.
public enum PromQLTemplate {
    public struct UnknownVariable: Error, Sendable, Hashable, CustomStringConvertible {
        public var name: String
        public var known: [String]
        public var description: String {
            "unknown template variable \"\(name)\" (known: \(known.sorted().joined(separator: ", ")))"
        }
    }

    public struct Unterminated: Error, Sendable, Hashable, CustomStringConvertible {
        public var offset: Int
        public var description: String { "\"{{\" at offset \(offset) has no closing \"}}\"" }
    }

    /// Replaces every `{{ name }}` with its value. Values are inserted as they are (callers pass
    /// Kubernetes names, which cannot contain quotes or braces).
    public static func render(_ template: String, variables: [String: String]) throws -> String {
        var out = ""
        var rest = Substring(template)
        while let open = rest.range(of: "{{") {
            out += rest[..<open.lowerBound]
            let after = rest[open.upperBound...]
            guard let close = after.range(of: "}}") else {
                throw Unterminated(offset: template.distance(from: template.startIndex, to: open.lowerBound))
            }
            let name = after[..<close.lowerBound].trimmingCharacters(in: .whitespaces)
            guard let value = variables[name] else { throw UnknownVariable(name: name, known: Array(variables.keys)) }
            out += value
            rest = after[close.upperBound...]
        }
        out += rest
        return out
    }
}
