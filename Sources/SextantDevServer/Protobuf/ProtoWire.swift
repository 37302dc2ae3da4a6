/// Protocol buffer wire format, the few primitives the descriptor-driven transcoder needs
/// (SwiftProtobuf's binary decoder only fills generated message types). Every read is bounds-checked
/// and throws; nothing here traps on bad input.
struct ProtoWireError: Error, CustomStringConvertible {
    var description: String
}

enum WireType: UInt8 {
    case varint = 0, fixed64 = 1, lengthDelimited = 2, startGroup = 3, endGroup = 4, fixed32 = 5
}

struct WireReader {
    let bytes: [UInt8]
    var offset: Int
    let end: Int

    init(_ bytes: [UInt8], range: Range<Int>? = nil) {
        self.bytes = bytes
        self.offset = range?.lowerBound ?? 0
        self.end = range?.upperBound ?? bytes.count
    }

    var atEnd: Bool { offset >= end }

    mutating func varint() throws -> UInt64 {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            guard offset < end else { throw ProtoWireError(description: "truncated varint at byte \(offset)") }
            let byte = bytes[offset]
            offset += 1
            guard shift < 64 else { throw ProtoWireError(description: "varint longer than 10 bytes at byte \(offset)") }
            result |= UInt64(byte & 0x7F) << shift
            if byte & 0x80 == 0 { return result }
            shift += 7
        }
    }

    /// A field key: the field number and its wire type.
    mutating func key() throws -> (field: Int, wire: WireType) {
        let at = offset
        let key = try varint()
        guard let wire = WireType(rawValue: UInt8(key & 7)) else {
            throw ProtoWireError(description: "invalid wire type \(key & 7) at byte \(at)")
        }
        let field = key >> 3
        guard field > 0, field < 1 << 29 else { throw ProtoWireError(description: "invalid field number \(field) at byte \(at)") }
        return (Int(field), wire)
    }

    mutating func fixed(_ size: Int) throws -> UInt64 {
        guard end - offset >= size else { throw ProtoWireError(description: "truncated fixed\(size * 8) at byte \(offset)") }
        var value: UInt64 = 0
        for i in 0..<size { value |= UInt64(bytes[offset + i]) << (8 * UInt64(i)) }
        offset += size
        return value
    }

    /// The range of a length-delimited value.
    mutating func lengthDelimited() throws -> Range<Int> {
        let at = offset
        let length = try varint()
        guard length <= UInt64(end - offset) else {
            throw ProtoWireError(description: "length \(length) at byte \(at) runs past the end of its message (\(end - offset) bytes left)")
        }
        let range = offset..<(offset + Int(length))
        offset = range.upperBound
        return range
    }

    mutating func skip(_ wire: WireType) throws {
        switch wire {
        case .varint: _ = try varint()
        case .fixed64: _ = try fixed(8)
        case .fixed32: _ = try fixed(4)
        case .lengthDelimited: _ = try lengthDelimited()
        case .startGroup, .endGroup: throw ProtoWireError(description: "groups are not used by Kubernetes messages (byte \(offset))")
        }
    }
}

struct WireWriter {
    var bytes: [UInt8] = []

    mutating func varint(_ value: UInt64) {
        var v = value
        while v >= 0x80 {
            bytes.append(UInt8(v & 0x7F) | 0x80)
            v >>= 7
        }
        bytes.append(UInt8(v))
    }

    mutating func key(_ field: Int, _ wire: WireType) { varint(UInt64(field) << 3 | UInt64(wire.rawValue)) }

    mutating func fixed(_ value: UInt64, size: Int) {
        for i in 0..<size { bytes.append(UInt8(truncatingIfNeeded: value >> (8 * UInt64(i)))) }
    }

    mutating func lengthDelimited(_ field: Int, _ payload: [UInt8]) {
        key(field, .lengthDelimited)
        varint(UInt64(payload.count))
        bytes += payload
    }
}
