// A bounds-checked reader of the Thrift compact protocol, the encoding of Parquet's footer and
// page headers. Only what Parquet's metadata uses: structs, lists, integers, binary, bools and
// doubles, with unknown fields skipped (depth-limited, so a hostile file cannot exhaust the stack).
// Every failure names the file offset where it happened.

/// A problem in a Parquet file at a byte offset (of the file, or of a decoded page when stated).
/// A byte cursor that reads ULEB128 varints and zigzag integers (Thrift's compact protocol and
/// Parquet's RLE, delta and level headers use the same encodings).
protocol VarintReading {
    mutating func byte() throws -> UInt8
    func fail(_ message: String) -> ParquetError
}

extension VarintReading {
    mutating func varint() throws -> UInt64 {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            let b = try byte()
            if shift == 63 && b > 1 { throw fail("varint overflows 64 bits") }
            result |= UInt64(b & 0x7F) << shift
            if b & 0x80 == 0 { return result }
            shift += 7
            if shift > 63 { throw fail("varint longer than 10 bytes") }
        }
    }

    mutating func zigzag() throws -> Int64 {
        let v = try varint()
        return Int64(bitPattern: (v >> 1) ^ (0 &- (v & 1)))
    }
}

struct ParquetError: Error, Sendable {
    var offset: Int
    var message: String
    init(_ offset: Int, _ message: String) { self.offset = offset; self.message = message }
}

/// Compact protocol type ids (the low nibble of a field header).
enum ThriftType: UInt8 {
    case stop = 0, boolTrue = 1, boolFalse = 2, byte = 3, i16 = 4, i32 = 5, i64 = 6, double = 7
    case binary = 8, list = 9, set = 10, map = 11, structure = 12
}

struct ThriftReader: VarintReading {
    let buffer: UnsafeRawBufferPointer
    /// File offset of `buffer[0]`, for error messages.
    let base: Int
    private(set) var position = 0
    /// Structs nested deeper than this are refused (Parquet's own metadata nests about 5 deep).
    static let maxDepth = 32

    init(_ buffer: UnsafeRawBufferPointer, fileOffset: Int) { self.buffer = buffer; self.base = fileOffset }

    var fileOffset: Int { base + position }

    func fail(_ message: String) -> ParquetError { ParquetError(fileOffset, "metadata: " + message) }

    mutating func byte() throws -> UInt8 {
        guard position < buffer.count else { throw fail("unexpected end of the Thrift data") }
        defer { position += 1 }
        return buffer[position]
    }

    mutating func i64() throws -> Int64 { try zigzag() }

    mutating func i32() throws -> Int32 {
        let start = fileOffset
        let v = try zigzag()
        guard let r = Int32(exactly: v) else { throw ParquetError(start, "metadata: i32 value \(v) out of range") }
        return r
    }

    /// A non-negative i32 or i64 as Int (sizes, counts, offsets).
    mutating func count(_ what: String, i64 wide: Bool = false) throws -> Int {
        let start = fileOffset
        let v = wide ? try i64() : Int64(try i32())
        guard v >= 0 else { throw ParquetError(start, "metadata: negative \(what) \(v)") }
        return Int(v)
    }

    mutating func double() throws -> Double {
        guard buffer.count - position >= 8 else { throw fail("unexpected end of the Thrift data in a double") }
        var bits: UInt64 = 0
        for i in 0..<8 { bits |= UInt64(buffer[position + i]) << (8 * UInt64(i)) }
        position += 8
        return Double(bitPattern: bits)
    }

    mutating func binary() throws -> UnsafeRawBufferPointer {
        let start = fileOffset
        let n = try varint()
        guard n <= UInt64(buffer.count - position) else {
            throw ParquetError(start, "metadata: binary length \(n) runs past the end (\(buffer.count - position) bytes left)")
        }
        defer { position += Int(n) }
        return UnsafeRawBufferPointer(rebasing: buffer[position..<position + Int(n)])
    }

    mutating func string() throws -> String { String(decoding: try binary(), as: UTF8.self) }

    /// A list header: element count and element type. The count is checked against the bytes
    /// left (every element takes at least one byte), so a corrupt count cannot allocate much.
    mutating func listHeader() throws -> (count: Int, type: ThriftType) {
        let start = fileOffset
        let h = try byte()
        var n = UInt64(h >> 4)
        if n == 15 { n = try varint() }
        guard let t = ThriftType(rawValue: h & 0x0F), t != .stop else {
            throw ParquetError(start, "metadata: unknown list element type \(h & 0x0F)")
        }
        guard n <= UInt64(buffer.count - position) else {
            throw ParquetError(start, "metadata: list of \(n) elements cannot fit in the \(buffer.count - position) bytes left")
        }
        return (Int(n), t)
    }

    /// Reads a struct's fields, calling `field(&reader, id, type)` for each; `field` reads the
    /// value or calls `skip`. Stops at the STOP byte.
    mutating func readStruct(depth: Int, _ field: (inout ThriftReader, Int16, ThriftType) throws -> Void) throws {
        guard depth < Self.maxDepth else { throw fail("structs nested more than \(Self.maxDepth) deep") }
        var last: Int16 = 0
        while true {
            let start = fileOffset
            let h = try byte()
            if h == 0 { return }
            guard let t = ThriftType(rawValue: h & 0x0F) else {
                throw ParquetError(start, "metadata: unknown field type \(h & 0x0F)")
            }
            let delta = Int16(h >> 4)
            let id: Int16
            if delta == 0 {
                let v = try zigzag()
                guard let i = Int16(exactly: v) else { throw ParquetError(start, "metadata: field id \(v) out of range") }
                id = i
            } else {
                id = last &+ delta
            }
            last = id
            try field(&self, id, t)
        }
    }

    /// Skips one value of type `t`.
    mutating func skip(_ t: ThriftType, depth: Int) throws {
        switch t {
        case .stop: throw fail("unexpected STOP")
        case .boolTrue, .boolFalse: return
        case .byte: _ = try byte()
        case .i16, .i32, .i64: _ = try varint()
        case .double: _ = try double()
        case .binary: _ = try binary()
        case .list, .set:
            let (n, et) = try listHeader()
            for _ in 0..<n { try skipElement(et, depth: depth + 1) }
        case .map:
            let n = try varint()
            if n == 0 { return }
            let kv = try byte()
            guard let k = ThriftType(rawValue: kv >> 4), let v = ThriftType(rawValue: kv & 0x0F) else {
                throw fail("unknown map key/value types \(kv)")
            }
            guard n <= UInt64(buffer.count - position) else { throw fail("map of \(n) entries cannot fit") }
            for _ in 0..<n { try skipElement(k, depth: depth + 1); try skipElement(v, depth: depth + 1) }
        case .structure:
            try readStruct(depth: depth + 1) { r, _, ft in try r.skip(ft, depth: depth + 1) }
        }
    }

    /// Skips one list element: inside containers a bool takes one byte.
    mutating func skipElement(_ t: ThriftType, depth: Int) throws {
        guard depth < Self.maxDepth else { throw fail("containers nested more than \(Self.maxDepth) deep") }
        if t == .boolTrue || t == .boolFalse { _ = try byte() } else { try skip(t, depth: depth) }
    }

    /// Checks a field's wire type before reading it.
    func expect(_ t: ThriftType, _ wanted: ThriftType, _ name: String) throws {
        if t == wanted { return }
        if wanted == .boolTrue, t == .boolFalse { return }
        throw fail("field \(name) has wire type \(t), expected \(wanted)")
    }

    /// A bool struct field: the value is its type id.
    func bool(_ t: ThriftType, _ name: String) throws -> Bool {
        try expect(t, .boolTrue, name)
        return t == .boolTrue
    }
}
