/// A JSON tree packed into one byte buffer, for values kept long and read seldom (the informer
/// caches of dynamic objects). A `JSONValue` tree costs about four times its JSON text in heap:
/// every object is a hash table with 16-byte keys, 24-byte values and spare buckets. The packed
/// form costs about the JSON text and unpacks to an equal tree (`int` and `double` stay apart).
///
/// Layout, one tag byte per value: null, false, true; int as a zigzag varint; double as its 8
/// IEEE bytes; string as a varint length and UTF-8; array as a varint count and the elements;
/// object as a varint count and, per member, the key as a string and the value.
public struct CompactJSON: Sendable, Hashable {
    public let bytes: [UInt8]

    public init(_ value: JSONValue) {
        var size = 0
        Self.measure(value, &size)
        bytes = [UInt8](unsafeUninitializedCapacity: size) { buffer, count in
            var at = 0
            Self.write(value, into: buffer, at: &at)
            count = at
        }
    }

    /// Bytes as they are, for tests of what `value` does with bytes `init` never wrote.
    init(bytes: [UInt8]) { self.bytes = bytes }

    /// The tree again. Bytes that are not a packed value (never produced by `init`) end in `.null`
    /// where they stop making sense, rather than trapping.
    public var value: JSONValue {
        bytes.withUnsafeBufferPointer { buffer in
            var at = 0
            return Self.read(buffer, at: &at, depth: 0)
        }
    }

    private enum Tag: UInt8 { case null, `false`, `true`, int, double, string, array, object }

    // MARK: Size

    private static func measure(_ value: JSONValue, _ size: inout Int) {
        size += 1
        switch value {
        case .null, .bool: break
        case .int(let i): size += varintSize(zigzag(i))
        case .double: size += 8
        case .string(let s): measure(string: s, &size)
        case .array(let items):
            size += varintSize(UInt64(items.count))
            for item in items { measure(item, &size) }
        case .object(let members):
            size += varintSize(UInt64(members.count))
            for (key, item) in members {
                measure(string: key, &size)
                measure(item, &size)
            }
        }
    }

    private static func measure(string: String, _ size: inout Int) {
        let n = string.utf8.count
        size += varintSize(UInt64(n)) + n
    }

    private static func varintSize(_ v: UInt64) -> Int {
        var v = v, n = 1
        while v >= 0x80 { v >>= 7; n += 1 }
        return n
    }

    private static func zigzag(_ i: Int64) -> UInt64 { UInt64(bitPattern: (i << 1) ^ (i >> 63)) }

    // MARK: Write

    private static func write(_ value: JSONValue, into out: UnsafeMutableBufferPointer<UInt8>, at: inout Int) {
        func put(_ tag: Tag) { out[at] = tag.rawValue; at += 1 }
        switch value {
        case .null: put(.null)
        case .bool(let b): put(b ? .true : .false)
        case .int(let i):
            put(.int)
            putVarint(zigzag(i), out, &at)
        case .double(let d):
            put(.double)
            var bits = d.bitPattern
            for _ in 0..<8 { out[at] = UInt8(truncatingIfNeeded: bits); bits >>= 8; at += 1 }
        case .string(let s):
            put(.string)
            putString(s, out, &at)
        case .array(let items):
            put(.array)
            putVarint(UInt64(items.count), out, &at)
            for item in items { write(item, into: out, at: &at) }
        case .object(let members):
            put(.object)
            putVarint(UInt64(members.count), out, &at)
            for (key, item) in members {
                putString(key, out, &at)
                write(item, into: out, at: &at)
            }
        }
    }

    private static func putVarint(_ v: UInt64, _ out: UnsafeMutableBufferPointer<UInt8>, _ at: inout Int) {
        var v = v
        while v >= 0x80 { out[at] = UInt8(truncatingIfNeeded: v) | 0x80; v >>= 7; at += 1 }
        out[at] = UInt8(v)
        at += 1
    }

    private static func putString(_ s: String, _ out: UnsafeMutableBufferPointer<UInt8>, _ at: inout Int) {
        var s = s
        s.withUTF8 { utf8 in
            putVarint(UInt64(utf8.count), out, &at)
            for byte in utf8 { out[at] = byte; at += 1 }
        }
    }

    // MARK: Read

    /// Nesting deeper than this is not something `init` wrote (the API server refuses deeper JSON).
    private static let maxDepth = 10_000

    private static func read(_ buf: UnsafeBufferPointer<UInt8>, at: inout Int, depth: Int) -> JSONValue {
        guard at < buf.count, depth < maxDepth, let tag = Tag(rawValue: buf[at]) else { return .null }
        at += 1
        switch tag {
        case .null: return .null
        case .false: return .bool(false)
        case .true: return .bool(true)
        case .int:
            guard let z = readVarint(buf, &at) else { return .null }
            return .int(Int64(bitPattern: (z >> 1) ^ (0 &- (z & 1))))
        case .double:
            guard at + 8 <= buf.count else { return .null }
            var bits: UInt64 = 0
            for i in (0..<8).reversed() { bits = bits << 8 | UInt64(buf[at + i]) }
            at += 8
            return .double(Double(bitPattern: bits))
        case .string:
            return readString(buf, &at).map(JSONValue.string) ?? .null
        case .array:
            guard let count = readCount(buf, &at) else { return .null }
            var items: [JSONValue] = []
            items.reserveCapacity(count)
            for _ in 0..<count { items.append(read(buf, at: &at, depth: depth + 1)) }
            return .array(items)
        case .object:
            guard let count = readCount(buf, &at) else { return .null }
            var members: [String: JSONValue] = Dictionary(minimumCapacity: count)
            for _ in 0..<count {
                guard let key = readString(buf, &at) else { break }
                members[key] = read(buf, at: &at, depth: depth + 1)
            }
            return .object(members)
        }
    }

    private static func readVarint(_ buf: UnsafeBufferPointer<UInt8>, _ at: inout Int) -> UInt64? {
        var v: UInt64 = 0, shift: UInt64 = 0
        while at < buf.count, shift < 64 {
            let byte = buf[at]
            at += 1
            v |= UInt64(byte & 0x7f) << shift
            if byte < 0x80 { return v }
            shift += 7
        }
        return nil
    }

    /// A count no larger than the bytes left (each element takes at least one).
    private static func readCount(_ buf: UnsafeBufferPointer<UInt8>, _ at: inout Int) -> Int? {
        guard let n = readVarint(buf, &at), n <= UInt64(buf.count - at) else { return nil }
        return Int(n)
    }

    private static func readString(_ buf: UnsafeBufferPointer<UInt8>, _ at: inout Int) -> String? {
        guard let n = readCount(buf, &at) else { return nil }
        let s = String(decoding: UnsafeBufferPointer(rebasing: buf[at..<(at + n)]), as: UTF8.self)
        at += n
        return s
    }
}
