import Foundation

/// Why a patch could not be applied; the message names the operation and path.
public struct JSONPatchError: Error, Sendable, Hashable, CustomStringConvertible {
    public enum Kind: Sendable, Hashable {
        /// The patch document itself is malformed (unknown op, missing field, bad pointer).
        case invalidPatch
        /// A path does not exist in the target.
        case pathNotFound
        /// A `test` operation found a different value.
        case testFailed
    }
    public var kind: Kind
    public var message: String
    public var description: String { message }
}

extension JSONValue {
    /// Applies a JSON merge patch (RFC 7386): objects merge recursively, `null` deletes a key,
    /// anything else (arrays included) replaces the target.
    public func applyingMergePatch(_ patch: JSONValue) -> JSONValue {
        guard case .object(let patchObject) = patch else { return patch }
        var result = objectValue ?? [:]
        for (key, patchValue) in patchObject {
            if patchValue.isNull {
                result.removeValue(forKey: key)
            } else {
                result[key] = (result[key] ?? .null).applyingMergePatch(patchValue)
            }
        }
        return .object(result)
    }

    /// Applies a JSON patch (RFC 6902): `add`, `remove`, `replace`, `move`, `copy` and `test`.
    /// The patch applies atomically: on error the receiver is not changed.
    public func applyingJSONPatch(_ patch: JSONValue) throws(JSONPatchError) -> JSONValue {
        guard case .array(let operations) = patch else {
            throw JSONPatchError(kind: .invalidPatch, message: "a JSON patch must be an array of operations")
        }
        var document = self
        for (number, operation) in operations.enumerated() {
            guard let op = operation["op"]?.stringValue else {
                throw JSONPatchError(kind: .invalidPatch, message: "operation \(number): missing \"op\"")
            }
            guard let pathText = operation["path"]?.stringValue else {
                throw JSONPatchError(kind: .invalidPatch, message: "operation \(number) (\(op)): missing \"path\"")
            }
            let path = try JSONPointer(pathText)
            func requireValue() throws(JSONPatchError) -> JSONValue {
                guard let value = operation["value"] else {
                    throw JSONPatchError(kind: .invalidPatch,
                                         message: "operation \(number) (\(op) \(pathText)): missing \"value\"")
                }
                return value
            }
            func requireFrom() throws(JSONPatchError) -> JSONPointer {
                guard let from = operation["from"]?.stringValue else {
                    throw JSONPatchError(kind: .invalidPatch,
                                         message: "operation \(number) (\(op) \(pathText)): missing \"from\"")
                }
                return try JSONPointer(from)
            }
            switch op {
            case "add":
                try document.add(try requireValue(), at: path)
            case "remove":
                _ = try document.remove(at: path)
            case "replace":
                _ = try document.remove(at: path)
                try document.add(try requireValue(), at: path)
            case "move":
                let from = try requireFrom()
                if path.tokens.starts(with: from.tokens), path.tokens.count > from.tokens.count {
                    throw JSONPatchError(kind: .invalidPatch,
                                         message: "operation \(number): cannot move \(from) into its own child \(path)")
                }
                let value = try document.remove(at: from)
                try document.add(value, at: path)
            case "copy":
                let value = try document.value(at: try requireFrom())
                try document.add(value, at: path)
            case "test":
                let expected = try requireValue()
                let actual = try document.value(at: path)
                guard actual.numericallyEqual(to: expected) else {
                    throw JSONPatchError(kind: .testFailed,
                                         message: "test failed at \(pathText): expected \(expected.jsonString()), found \(actual.jsonString())")
                }
            default:
                throw JSONPatchError(kind: .invalidPatch, message: "operation \(number): unknown op \"\(op)\"")
            }
        }
        return document
    }

    /// Equality where `1` and `1.0` are the same number, as JSON sees them.
    public func numericallyEqual(to other: JSONValue) -> Bool {
        switch (self, other) {
        case (.int(let a), .double(let b)), (.double(let b), .int(let a)): return Double(a) == b
        case (.array(let a), .array(let b)):
            return a.count == b.count && zip(a, b).allSatisfy { $0.numericallyEqual(to: $1) }
        case (.object(let a), .object(let b)):
            return a.count == b.count && a.allSatisfy { key, value in b[key].map { value.numericallyEqual(to: $0) } ?? false }
        default: return self == other
        }
    }

    /// The value a JSON pointer points to.
    public func value(at pointer: JSONPointer) throws(JSONPatchError) -> JSONValue {
        var current = self
        for token in pointer.tokens {
            switch current {
            case .object(let o):
                guard let next = o[token] else { throw pointer.notFound() }
                current = next
            case .array(let a):
                guard let i = Int(token), a.indices.contains(i) else { throw pointer.notFound() }
                current = a[i]
            default:
                throw pointer.notFound()
            }
        }
        return current
    }

    mutating func add(_ value: JSONValue, at pointer: JSONPointer) throws(JSONPatchError) {
        try modify(pointer.tokens[...], pointer: pointer) { (parent: inout JSONValue, last: String) throws(JSONPatchError) in
            switch parent {
            case .object(var o):
                o[last] = value
                parent = .object(o)
            case .array(var a):
                if last == "-" {
                    a.append(value)
                } else if let i = Int(last), i >= 0, i <= a.count, last == String(i) {
                    a.insert(value, at: i)
                } else {
                    throw JSONPatchError(kind: .invalidPatch, message: "invalid array index \"\(last)\" in \(pointer)")
                }
                parent = .array(a)
            default:
                throw pointer.notFound()
            }
        }
    }

    mutating func remove(at pointer: JSONPointer) throws(JSONPatchError) -> JSONValue {
        var removed: JSONValue = .null
        try modify(pointer.tokens[...], pointer: pointer) { (parent: inout JSONValue, last: String) throws(JSONPatchError) in
            switch parent {
            case .object(var o):
                guard let old = o.removeValue(forKey: last) else { throw pointer.notFound() }
                removed = old
                parent = .object(o)
            case .array(var a):
                guard let i = Int(last), a.indices.contains(i) else { throw pointer.notFound() }
                removed = a.remove(at: i)
                parent = .array(a)
            default:
                throw pointer.notFound()
            }
        }
        return removed
    }

    /// Walks to the parent of the pointer's last token and lets `change` edit it in place.
    private mutating func modify(
        _ tokens: ArraySlice<String>, pointer: JSONPointer,
        _ change: (inout JSONValue, String) throws(JSONPatchError) -> Void
    ) throws(JSONPatchError) {
        guard let first = tokens.first else {
            throw JSONPatchError(kind: .invalidPatch, message: "the whole document cannot be the target of this operation")
        }
        if tokens.count == 1 {
            try change(&self, first)
            return
        }
        switch self {
        case .object(var o):
            guard var child = o[first] else { throw pointer.notFound() }
            o[first] = nil // keep the child uniquely referenced while it is edited
            try child.modify(tokens.dropFirst(), pointer: pointer, change)
            o[first] = child
            self = .object(o)
        case .array(var a):
            guard let i = Int(first), a.indices.contains(i) else { throw pointer.notFound() }
            var child = a[i]
            try child.modify(tokens.dropFirst(), pointer: pointer, change)
            a[i] = child
            self = .array(a)
        default:
            throw pointer.notFound()
        }
    }
}

/// A JSON pointer (RFC 6901), e.g. `/spec/http/0/route/1/weight`.
public struct JSONPointer: Sendable, Hashable, CustomStringConvertible {
    public var tokens: [String]

    public init(tokens: [String]) { self.tokens = tokens }

    public init(_ text: String) throws(JSONPatchError) {
        if text.isEmpty {
            tokens = []
            return
        }
        guard text.hasPrefix("/") else {
            throw JSONPatchError(kind: .invalidPatch, message: "JSON pointer \"\(text)\" must start with '/'")
        }
        tokens = text.dropFirst().split(separator: "/", omittingEmptySubsequences: false).map {
            $0.replacingOccurrences(of: "~1", with: "/").replacingOccurrences(of: "~0", with: "~")
        }
    }

    public var description: String {
        tokens.map { "/" + $0.replacingOccurrences(of: "~", with: "~0").replacingOccurrences(of: "/", with: "~1") }.joined()
    }

    func notFound() -> JSONPatchError {
        JSONPatchError(kind: .pathNotFound, message: "path \(self) does not exist")
    }
}

