import Foundation

/// A type that `JSONBytesDecoder` can read member by member, without `Codable`'s keyed container
/// (one boxed call and one key lookup per field). Meant for small types decoded very often, such
/// as Kubernetes' `ObjectMeta`, which every watch event carries.
///
/// The reader handles only the common case: ASCII keys and values of the expected JSON types.
/// Anything else (a key with escapes or outside ASCII, a value of another type, a number that
/// does not fit) throws `JSONObjectReader.Unusual`, and the decoder then decodes the same value
/// again through `init(from:)`, so values and errors are always exactly the `Codable` ones.
public protocol JSONObjectReadable: Decodable {
    init(reading object: JSONObjectReader) throws
}

/// The members of one JSON object, read in document order (a repeated key is read again, so the
/// last value wins, as with `Codable`).
public struct JSONObjectReader {
    /// Thrown by the reader (or by the type) to fall back to `init(from:)`.
    public struct Unusual: Error {
        public init() {}
    }

    let tape: JSONTape
    let object: Int
    let path: CodingPathNode?

    /// Calls `body` with each member in order.
    public func forEachMember(_ body: (inout JSONMember) throws -> Void) throws {
        let end = tape.nodes[object].next
        var key = object + 1
        while key < end {
            let keyNode = tape.nodes[key]
            // Keys compare like Swift strings; bytes only agree with that for plain ASCII.
            guard keyNode.flags == 0 else { throw Unusual() }
            var member = JSONMember(tape: tape, key: key, value: key + 1, path: path)
            try body(&member)
            key = tape.nodes[key + 1].next
        }
    }
}

/// One member of an object: its key, compared as bytes, and its value, read as a given type.
public struct JSONMember {
    let tape: JSONTape
    let key: Int
    let value: Int
    let path: CodingPathNode?

    /// The key is exactly `name` (ASCII).
    @inline(__always)
    public func isKey(_ name: StaticString) -> Bool {
        let node = tape.nodes[key]
        let length = node.end - node.start - 1
        guard length == name.utf8CodeUnitCount, let base = tape.bytes.baseAddress else { return false }
        return length == 0 || memcmp(base + node.start + 1, name.utf8Start, length) == 0
    }

    private var kind: TapeNode.Kind { tape.nodes[value].kind }

    /// A string, or nil for null.
    public func string() throws -> String? {
        switch kind {
        case .string: return tape.string(tape.nodes[value])
        case .null: return nil
        default: throw JSONObjectReader.Unusual()
        }
    }

    /// A bool, or nil for null.
    public func bool() throws -> Bool? {
        switch kind {
        case .true: return true
        case .false: return false
        case .null: return nil
        default: throw JSONObjectReader.Unusual()
        }
    }

    /// An integer written without fraction or exponent that fits in 64 bits, or nil for null.
    public func int64() throws -> Int64? {
        switch kind {
        case .integer:
            guard case .int(let number) = tape.number(tape.nodes[value]) else { throw JSONObjectReader.Unusual() }
            return number
        case .null: return nil
        default: throw JSONObjectReader.Unusual()
        }
    }

    /// Any other value through the bytes decoder, or nil for null. Any error falls back too, so
    /// that the error reported is the one `init(from:)` gives, with its coding path.
    public func decode<T: Decodable>(_ type: T.Type) throws -> T? {
        if kind == .null { return nil }
        do {
            return try Bytes.decode(T.self, tape, value, { [] }, parent: path, key: AnyKey(tape.string(tape.nodes[key])))
        } catch {
            throw JSONObjectReader.Unusual()
        }
    }
}
