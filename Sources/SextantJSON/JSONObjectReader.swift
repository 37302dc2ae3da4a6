import Foundation

/// Lets a type read its members in one pass when it is decoded by `JSONBytesDecoder`, instead of
/// through `Codable`'s keyed container (one boxed call and one key search per field). Meant for
/// small types decoded very often, such as Kubernetes' `ObjectMeta`, which every watch event
/// carries. The type asks for a reader in its own `init(from:)`:
///
///     init(from decoder: any Decoder) throws {
///         if let reader = JSONObjectReader(decoder) {
///             do { try self.init(reading: reader); return } catch is JSONObjectReader.Unusual {}
///         }
///         // ... the keyed container, as usual
///     }
///
/// The reader handles only the common case: ASCII keys and values of the expected JSON types.
/// Anything else (a key with escapes or outside ASCII, a value of another type, a number that
/// needs converting, an error inside a nested value) throws `JSONObjectReader.Unusual`, and the
/// type then decodes through its keyed container, so values and errors are always the `Codable`
/// ones. Asking costs one type check, and only types that ask pay it.
///
/// Members are read in document order; a repeated key is read again, so the last value wins, as
/// with `Codable`.
public struct JSONObjectReader {
    /// Thrown by the reader (or by the type) to fall back to the keyed container.
    public struct Unusual: Error {
        public init() {}
    }

    let tape: JSONTape
    let object: Int
    let path: CodingPathNode?

    /// A reader when `decoder` is `JSONBytesDecoder`'s and its value is an object; nil otherwise.
    public init?(_ decoder: any Decoder) {
        guard let bytes = decoder as? BytesDecoder, bytes.tape.nodes[bytes.node].kind == .object else { return nil }
        tape = bytes.tape
        object = bytes.node
        path = bytes.path
    }

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
