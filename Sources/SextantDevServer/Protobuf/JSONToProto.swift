import Foundation
import SextantJSON

/// JSON → Kubernetes protobuf, the reverse of `ProtoToJSON`, for responses to clients that
/// asked for `application/vnd.kubernetes.protobuf`. Fields are written in field-number order, as
/// Go's generated marshallers write them; JSON keys without a field (`apiVersion`, `kind`, fields
/// of a newer Kubernetes) are left out, as a Go struct would drop them.
struct JSONToProto {
    let schema: ProtoSchema
    static let maxDepth = 64

    func encode(_ value: JSONValue, message: ProtoSchema.Message, path: String = "", depth: Int = 0) throws -> [UInt8] {
        guard depth < Self.maxDepth else { throw ProtoWireError(description: "\(path): objects nested deeper than \(Self.maxDepth)") }
        if let special = try ProtoSpecialFields.encode(message.fullName, value, path: path) { return special }
        guard let object = value.objectValue else {
            throw ProtoWireError(description: "\(path.isEmpty ? message.fullName : path): must be an object, got \(value.typeName)")
        }
        var writer = WireWriter()
        for field in message.fields.values.sorted(by: { $0.number < $1.number }) {
            guard let fieldValue = object[field.name], !fieldValue.isNull else { continue }
            let fieldPath = path.isEmpty ? field.name : path + "." + field.name
            if case .message(let typeName) = field.kind {
                guard let nested = schema.messages[typeName] else {
                    throw ProtoWireError(description: "\(fieldPath): no descriptor for message \(typeName)")
                }
                if nested.isMapEntry {
                    guard let entries = fieldValue.objectValue else {
                        throw ProtoWireError(description: "\(fieldPath): must be an object, got \(fieldValue.typeName)")
                    }
                    for key in entries.keys.sorted() {
                        guard let entryValue = entries[key] else { continue }
                        writer.lengthDelimited(field.number, try mapEntry(key, entryValue, entry: nested, path: fieldPath + "." + key, depth: depth))
                    }
                } else if field.repeated {
                    guard let items = fieldValue.arrayValue else {
                        throw ProtoWireError(description: "\(fieldPath): must be an array, got \(fieldValue.typeName)")
                    }
                    for (index, item) in items.enumerated() {
                        writer.lengthDelimited(field.number, try encode(item, message: nested, path: "\(fieldPath)[\(index)]", depth: depth + 1))
                    }
                } else {
                    writer.lengthDelimited(field.number, try encode(fieldValue, message: nested, path: fieldPath, depth: depth + 1))
                }
            } else if field.repeated {
                guard let items = fieldValue.arrayValue else {
                    throw ProtoWireError(description: "\(fieldPath): must be an array, got \(fieldValue.typeName)")
                }
                for (index, item) in items.enumerated() { try scalar(&writer, field, item, path: "\(fieldPath)[\(index)]") }
            } else {
                try scalar(&writer, field, fieldValue, path: fieldPath)
            }
        }
        return writer.bytes
    }

    func mapEntry(_ key: String, _ value: JSONValue, entry: ProtoSchema.Message, path: String, depth: Int) throws -> [UInt8] {
        var writer = WireWriter()
        if let keyField = entry.fields[1] { try scalar(&writer, keyField, .string(key), path: path) }
        if let valueField = entry.fields[2], !value.isNull {
            if case .message(let typeName) = valueField.kind, let nested = schema.messages[typeName] {
                writer.lengthDelimited(2, try encode(value, message: nested, path: path, depth: depth + 1))
            } else {
                try scalar(&writer, valueField, value, path: path)
            }
        }
        return writer.bytes
    }

    func scalar(_ writer: inout WireWriter, _ field: ProtoSchema.Field, _ value: JSONValue, path: String) throws {
        func integer() throws -> Int64 {
            switch value {
            case .int(let i): return i
            case .double(let d) where d == d.rounded() && abs(d) < 9.2e18: return Int64(d)
            case .string(let s) where Int64(s) != nil: return Int64(s) ?? 0  // int64 as a JSON string
            default: throw ProtoWireError(description: "\(path): must be an integer, got \(value.typeName)")
            }
        }
        switch field.kind {
        case .int32, .int64, .uint32, .uint64, .enumeration:
            writer.key(field.number, .varint)
            writer.varint(UInt64(bitPattern: try integer()))
        case .sint32, .sint64:
            let v = try integer()
            writer.key(field.number, .varint)
            writer.varint(UInt64(bitPattern: (v << 1) ^ (v >> 63)))
        case .bool:
            guard let b = value.boolValue else { throw ProtoWireError(description: "\(path): must be a boolean, got \(value.typeName)") }
            writer.key(field.number, .varint)
            writer.varint(b ? 1 : 0)
        case .double, .float:
            guard let d = value.doubleValue else { throw ProtoWireError(description: "\(path): must be a number, got \(value.typeName)") }
            if field.kind == .double {
                writer.key(field.number, .fixed64); writer.fixed(d.bitPattern, size: 8)
            } else {
                writer.key(field.number, .fixed32); writer.fixed(UInt64(Float(d).bitPattern), size: 4)
            }
        case .fixed32, .sfixed32:
            writer.key(field.number, .fixed32); writer.fixed(UInt64(bitPattern: try integer()), size: 4)
        case .fixed64, .sfixed64:
            writer.key(field.number, .fixed64); writer.fixed(UInt64(bitPattern: try integer()), size: 8)
        case .string:
            let text: String
            switch value {
            case .string(let s): text = s
            case .int(let i): text = String(i)  // a number where Go has a string: stored as sent, served as text
            case .bool(let b): text = String(b)
            default: throw ProtoWireError(description: "\(path): must be a string, got \(value.typeName)")
            }
            writer.lengthDelimited(field.number, Array(text.utf8))
        case .bytes:
            guard let text = value.stringValue, let data = Data(base64Encoded: text) else {
                throw ProtoWireError(description: "\(path): must be base64 text")
            }
            writer.lengthDelimited(field.number, Array(data))
        case .message:
            throw ProtoWireError(description: "\(path): message written as a scalar")
        }
    }
}
