import Foundation
import SextantJSON

/// A parsed label selector (`app=web,tier!=db,env in (a,b),!canary,track`).
public struct LabelSelector: Sendable, Hashable {
    public enum Requirement: Sendable, Hashable {
        case equals(String, String)
        case notEquals(String, String)
        case `in`(String, Set<String>)
        case notIn(String, Set<String>)
        case exists(String)
        case doesNotExist(String)
    }
    public var requirements: [Requirement]

    public static let everything = LabelSelector(requirements: [])

    public init(requirements: [Requirement]) { self.requirements = requirements }

    /// Parses the selector syntax of `?labelSelector=`; the error names the offending term.
    public init(parsing text: String) throws(APIError) {
        var requirements: [Requirement] = []
        for term in LabelSelector.splitTerms(text) {
            let t = term.trimmingSpaces
            if t.isEmpty { continue }
            if let r = try LabelSelector.parseSetTerm(t) {
                requirements.append(r)
            } else if let range = t.range(of: "!=") {
                requirements.append(.notEquals(try Self.key(t[..<range.lowerBound], t), String(t[range.upperBound...]).trimmingSpaces))
            } else if let range = t.range(of: "==") {
                requirements.append(.equals(try Self.key(t[..<range.lowerBound], t), String(t[range.upperBound...]).trimmingSpaces))
            } else if let range = t.range(of: "=") {
                requirements.append(.equals(try Self.key(t[..<range.lowerBound], t), String(t[range.upperBound...]).trimmingSpaces))
            } else if t.hasPrefix("!") {
                requirements.append(.doesNotExist(try Self.key(t.dropFirst(), t)))
            } else {
                requirements.append(.exists(try Self.key(Substring(t), t)))
            }
        }
        self.requirements = requirements
    }

    static func key(_ raw: Substring, _ term: String) throws(APIError) -> String {
        let key = String(raw).trimmingSpaces
        let allowed = key.allSatisfy { $0.isLetter || $0.isNumber || "-_./".contains($0) }
        guard !key.isEmpty, allowed else {
            throw APIError.badRequest("unable to parse requirement: invalid label key \"\(key)\" in \"\(term)\"")
        }
        return key
    }

    /// Splits on commas that are not inside parentheses.
    static func splitTerms(_ text: String) -> [String] {
        var terms: [String] = []
        var current = ""
        var depth = 0
        for ch in text {
            if ch == "(" { depth += 1 }
            if ch == ")" { depth -= 1 }
            if ch == ",", depth == 0 {
                terms.append(current)
                current = ""
            } else {
                current.append(ch)
            }
        }
        terms.append(current)
        return terms
    }

    static func parseSetTerm(_ term: String) throws(APIError) -> Requirement? {
        for (op, notIn) in [(" notin ", true), (" in ", false)] {
            guard let range = term.range(of: op) else { continue }
            let key = try Self.key(term[..<range.lowerBound], term)
            let rest = term[range.upperBound...].trimmingSpaces
            guard rest.hasPrefix("("), rest.hasSuffix(")") else {
                throw APIError.badRequest("unable to parse requirement: expected a parenthesized value list in \"\(term)\"")
            }
            let values = Set(rest.dropFirst().dropLast().split(separator: ",").map { String($0).trimmingSpaces })
            return notIn ? .notIn(key, values) : .in(key, values)
        }
        return nil
    }

    /// The selector of a `metav1.LabelSelector` object (`matchLabels` + `matchExpressions`).
    public init(object: JSONValue) {
        var requirements: [Requirement] = []
        for (k, v) in (object["matchLabels"]?.objectValue ?? [:]) {
            requirements.append(.equals(k, v.stringValue ?? ""))
        }
        for expression in object["matchExpressions"]?.arrayValue ?? [] {
            let key = expression["key"]?.stringValue ?? ""
            let values = Set(expression["values"]?.arrayValue?.compactMap(\.stringValue) ?? [])
            switch expression["operator"]?.stringValue {
            case "In": requirements.append(.in(key, values))
            case "NotIn": requirements.append(.notIn(key, values))
            case "Exists": requirements.append(.exists(key))
            case "DoesNotExist": requirements.append(.doesNotExist(key))
            default: continue
            }
        }
        self.requirements = requirements
    }

    public func matches(_ labels: [String: JSONValue]) -> Bool {
        requirements.allSatisfy { requirement in
            switch requirement {
            case .equals(let k, let v): return labels[k]?.stringValue == v
            case .notEquals(let k, let v): return labels[k]?.stringValue != v
            case .in(let k, let values): return labels[k]?.stringValue.map(values.contains) ?? false
            case .notIn(let k, let values): return !(labels[k]?.stringValue.map(values.contains) ?? false)
            case .exists(let k): return labels[k] != nil
            case .doesNotExist(let k): return labels[k] == nil
            }
        }
    }

    public func matches(object: JSONValue) -> Bool {
        requirements.isEmpty || matches(object[path: ["metadata", "labels"]]?.objectValue ?? [:])
    }
}

/// A field selector over the field labels of one resource (`FieldLabels`); other labels are
/// refused with 400 like the real server does.
public struct FieldSelector: Sendable, Hashable {
    public struct Term: Sendable, Hashable {
        public var label: String
        public var value: String
        public var negated: Bool
    }
    public var terms: [Term]

    public static let everything = FieldSelector(terms: [])

    public init(terms: [Term]) { self.terms = terms }

    /// Parses `text`, accepting only the labels in `supported`.
    public init(parsing text: String, supported: Set<String>) throws(APIError) {
        var terms: [Term] = []
        for raw in text.split(separator: ",") {
            let t = String(raw).trimmingSpaces
            let negated: Bool
            let parts: [Substring]
            if let r = t.range(of: "!=") {
                negated = true
                parts = [t[..<r.lowerBound], t[r.upperBound...]]
            } else if let r = t.range(of: "==") {
                negated = false
                parts = [t[..<r.lowerBound], t[r.upperBound...]]
            } else if let r = t.range(of: "=") {
                negated = false
                parts = [t[..<r.lowerBound], t[r.upperBound...]]
            } else {
                throw APIError.badRequest("invalid field selector term \"\(t)\": expected field=value or field!=value")
            }
            let field = String(parts[0]).trimmingSpaces
            guard supported.contains(field) else {
                throw APIError.badRequest("field label not supported: \(field)")
            }
            terms.append(Term(label: field, value: String(parts[1]).trimmingSpaces, negated: negated))
        }
        self.terms = terms
    }

    public func matches(object: JSONValue) -> Bool {
        terms.allSatisfy { term in
            (FieldLabels.value(term.label, of: object) == term.value) != term.negated
        }
    }
}

extension StringProtocol {
    var trimmingSpaces: String {
        var s = Substring(self)
        while s.first == " " { s.removeFirst() }
        while s.last == " " { s.removeLast() }
        return String(s)
    }
}
