import Foundation
import SextantJSON

/// Kubernetes protobuf → JSON, driven by the descriptors in `ProtoSchema`. The JSON is what
/// kube-apiserver's JSON encoder writes for the same Go object: `Time` as RFC 3339, `IntOrString`
/// as a number or string, `Quantity` as its string, `RawExtension`/`FieldsV1` as embedded JSON,
/// `bytes` as base64. Go's protobuf encoder writes every non-pointer scalar, zero or not, and the
/// JSON encoder leaves zero `omitempty` fields out: zero scalars are dropped here the same way,
/// except the pointer fields whose zero means something (`ProtoSpecialFields.meaningfulZero`).
struct ProtoToJSON {
    let schema: ProtoSchema
    static let maxDepth = 64

    func decode(_ bytes: [UInt8], range: Range<Int>, message: ProtoSchema.Message, path: String = "", depth: Int = 0) throws -> JSONValue {
        guard depth < Self.maxDepth else { throw ProtoWireError(description: "\(path): messages nested deeper than \(Self.maxDepth)") }
        if let special = try ProtoSpecialFields.decode(message.fullName, bytes, range: range, path: path) { return special }
        var reader = WireReader(bytes, range: range)
        var object: [String: JSONValue] = [:]
        var arrays: [String: [JSONValue]] = [:]
        var maps: [String: [String: JSONValue]] = [:]
        while !reader.atEnd {
            let (number, wire) = try reader.key()
            guard let field = message.fields[number] else {
                try reader.skip(wire)  // a field of a newer Kubernetes: ignored, as Go's decoder does
                continue
            }
            let fieldPath = path.isEmpty ? field.name : path + "." + field.name
            if case .message(let typeName) = field.kind {
                guard wire == .lengthDelimited else { throw wrongWire(fieldPath, wire, expected: .lengthDelimited) }
                guard let nested = schema.messages[typeName] else {
                    throw ProtoWireError(description: "\(fieldPath): no descriptor for message \(typeName)")
                }
                let valueRange = try reader.lengthDelimited()
                if nested.isMapEntry {
                    let (key, value) = try mapEntry(bytes, range: valueRange, entry: nested, path: fieldPath, depth: depth)
                    maps[field.name, default: [:]][key] = value
                } else {
                    let value = try decode(bytes, range: valueRange, message: nested, path: fieldPath, depth: depth + 1)
                    if field.repeated { arrays[field.name, default: []].append(value) } else { object[field.name] = value }
                }
                continue
            }
            if field.repeated && wire == .lengthDelimited && field.kind != .string && field.kind != .bytes {
                // Packed repeated scalars.
                let packed = try reader.lengthDelimited()
                var inner = WireReader(bytes, range: packed)
                while !inner.atEnd {
                    arrays[field.name, default: []].append(try scalar(&inner, field, wire: Self.wireType(of: field.kind), path: fieldPath))
                }
                continue
            }
            let value = try scalar(&reader, field, wire: wire, path: fieldPath)
            if field.repeated { arrays[field.name, default: []].append(value) } else { object[field.name] = value }
        }
        for (name, value) in object where value.isNull || (Self.isZero(value) && !ProtoSpecialFields.meaningfulZero.contains(message.fullName + "." + name)) {
            object[name] = nil
        }
        for (name, values) in arrays { object[name] = .array(values) }
        for (name, entries) in maps { object[name] = .object(entries) }
        return .object(object)
    }

    func mapEntry(_ bytes: [UInt8], range: Range<Int>, entry: ProtoSchema.Message, path: String, depth: Int) throws -> (String, JSONValue) {
        var reader = WireReader(bytes, range: range)
        var key: JSONValue = .string(""), value: JSONValue?
        while !reader.atEnd {
            let (number, wire) = try reader.key()
            guard let field = entry.fields[number], number == 1 || number == 2 else { try reader.skip(wire); continue }
            if case .message(let typeName) = field.kind, let nested = schema.messages[typeName] {
                guard wire == .lengthDelimited else { throw wrongWire(path, wire, expected: .lengthDelimited) }
                value = try decode(bytes, range: try reader.lengthDelimited(), message: nested, path: path, depth: depth + 1)
            } else if number == 1 {
                key = try scalar(&reader, field, wire: wire, path: path)
            } else {
                value = try scalar(&reader, field, wire: wire, path: path)
            }
        }
        let keyText: String
        switch key {
        case .string(let s): keyText = s
        case .int(let i): keyText = String(i)
        case .bool(let b): keyText = String(b)
        default: keyText = ""
        }
        return (keyText, value ?? Self.zeroValue(entry.fields[2]?.kind))
    }

    func scalar(_ reader: inout WireReader, _ field: ProtoSchema.Field, wire: WireType, path: String) throws -> JSONValue {
        let expected = Self.wireType(of: field.kind)
        guard wire == expected else { throw wrongWire(path, wire, expected: expected) }
        switch field.kind {
        case .int32, .enumeration: return .int(Int64(Int32(truncatingIfNeeded: try reader.varint())))
        case .int64: return .int(Int64(bitPattern: try reader.varint()))
        case .uint32: return .int(Int64(UInt32(truncatingIfNeeded: try reader.varint())))
        case .uint64: return .int(Int64(bitPattern: try reader.varint()))
        case .sint32, .sint64:
            let raw = try reader.varint()
            return .int(Int64(bitPattern: raw >> 1) ^ -Int64(bitPattern: raw & 1))
        case .bool: return .bool(try reader.varint() != 0)
        case .double: return .double(Double(bitPattern: try reader.fixed(8)))
        case .float: return .double(Double(Float(bitPattern: UInt32(truncatingIfNeeded: try reader.fixed(4)))))
        case .fixed32: return .int(Int64(try reader.fixed(4)))
        case .sfixed32: return .int(Int64(Int32(bitPattern: UInt32(truncatingIfNeeded: try reader.fixed(4)))))
        case .fixed64, .sfixed64: return .int(Int64(bitPattern: try reader.fixed(8)))
        case .string:
            let range = try reader.lengthDelimited()
            guard let text = String(bytes: reader.bytes[range], encoding: .utf8) else {
                throw ProtoWireError(description: "\(path): string is not valid UTF-8")
            }
            return .string(text)
        case .bytes:
            let range = try reader.lengthDelimited()
            return .string(Data(reader.bytes[range]).base64EncodedString())
        case .message:
            throw ProtoWireError(description: "\(path): message read as a scalar")
        }
    }

    func wrongWire(_ path: String, _ wire: WireType, expected: WireType) -> ProtoWireError {
        ProtoWireError(description: "\(path): wire type \(wire.rawValue) where the field's type needs \(expected.rawValue)")
    }

    static func wireType(of kind: ProtoSchema.Field.Kind) -> WireType {
        switch kind {
        case .int32, .int64, .uint32, .uint64, .sint32, .sint64, .bool, .enumeration: .varint
        case .double, .fixed64, .sfixed64: .fixed64
        case .float, .fixed32, .sfixed32: .fixed32
        case .string, .bytes, .message: .lengthDelimited
        }
    }

    static func isZero(_ value: JSONValue) -> Bool {
        switch value {
        case .int(let i): i == 0
        case .double(let d): d == 0
        case .bool(let b): !b
        case .string(let s): s.isEmpty
        default: false
        }
    }

    static func zeroValue(_ kind: ProtoSchema.Field.Kind?) -> JSONValue {
        switch kind {
        case .string?, .bytes?: .string("")
        case .bool?: .bool(false)
        case .message?: .object([:])
        case nil: .null
        default: .int(0)
        }
    }
}
