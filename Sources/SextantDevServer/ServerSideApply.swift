import SextantJSON

/// How server-side apply merges a list and names its items in a FieldsV1 set.
enum ListShape: Equatable, Sendable {
    /// Items keyed by these fields (`k:{"name":"c"}`), merged item by item.
    case map([String])
    /// Scalars kept as a set (`v:"x"`), merged as a union.
    case set
    /// One value: applied whole, owned whole.
    case atomic
}

/// The schema server-side apply walks. Built-in kinds follow their Go types' markers
/// (`+listType`, `+listMapKey`, `+structType`, `+mapType`, `+default`), read from the generated.proto
/// files into `KubeFieldShapes` and walked along the proto messages of `ProtoSchema.kubernetes`;
/// custom resources follow their structural schema (`x-kubernetes-list-type`,
/// `x-kubernetes-list-map-keys`, `x-kubernetes-map-type`). A list that declares no list type is
/// atomic, as for kube-apiserver. Built-in kinds without proto descriptors (apiextensions.k8s.io)
/// are `untyped`: lists of objects keyed by the well-known merge keys (`ManagedFields.mergeKeys`).
enum ApplySchema: Sendable {
    /// A built-in type's value: `message` its proto message (nil for scalars and unknown fields),
    /// `field` the `<parent message>.<field>` it is the value of (which says its list or map
    /// shape), `isMap` for a proto map (every key has the map's value type).
    case builtin(message: String?, field: String?, isMap: Bool)
    case untyped
    /// A custom resource's schema node; nil below fields the schema does not declare.
    case custom(JSONValue?, root: Bool)

    static let objectMeta = "k8s.io.apimachinery.pkg.apis.meta.v1.ObjectMeta"

    init(_ type: ResourceType) {
        if type.isCustom {
            self = .custom(type.schema, root: true)
        } else if let message = ProtoSchema.kubernetes.message(apiVersion: type.groupVersion, kind: type.kind) {
            self = .builtin(message: message.fullName, field: nil, isMap: false)
        } else {
            self = .untyped
        }
    }

    func child(_ key: String) -> ApplySchema {
        switch self {
        case .untyped:
            return .untyped
        case .builtin(let message, _, let isMap):
            let messages = ProtoSchema.kubernetes.messages
            guard let message, let descriptor = messages[message] else { return .builtin(message: nil, field: nil, isMap: false) }
            let field = isMap ? descriptor.fields[2] : descriptor.fieldsByName[key]
            guard let field else { return .builtin(message: nil, field: nil, isMap: false) }
            var type: String?
            if case .message(let name) = field.kind { type = name }
            if isMap { return .builtin(message: type, field: nil, isMap: false) }
            return .builtin(message: type, field: "\(message).\(key)", isMap: type.flatMap { messages[$0]?.isMapEntry } ?? false)
        case .custom(let node, let root):
            if root && key == "metadata" { return .builtin(message: Self.objectMeta, field: nil, isMap: false) }
            if let property = node?["properties"]?[key] { return .custom(property, root: false) }
            if let additional = node?["additionalProperties"], additional.objectValue != nil { return .custom(additional, root: false) }
            return .custom(nil, root: false)
        }
    }

    var items: ApplySchema {
        switch self {
        case .untyped: .untyped
        case .builtin(let message, _, _): .builtin(message: message, field: nil, isMap: false)
        case .custom(let node, _): .custom(node?["items"], root: false)
        }
    }

    /// An object owned and replaced whole (`+structType=atomic`, `+mapType=atomic`,
    /// `x-kubernetes-map-type: atomic`).
    var isAtomicObject: Bool {
        switch self {
        case .untyped: false
        case .builtin(let message, let field, _):
            field.map { KubeFieldShapes.atomic.contains($0) } ?? false || message.map { KubeFieldShapes.atomic.contains($0) } ?? false
        case .custom(let node, _): node?["x-kubernetes-map-type"]?.stringValue == "atomic"
        }
    }

    /// The default of a field of this (list item) node: a list-map key an item leaves out has it.
    func fieldDefault(_ key: String) -> JSONValue? {
        switch self {
        case .untyped: return nil
        case .builtin(let message, _, _):
            guard let message, let text = KubeFieldShapes.defaults["\(message).\(key)"] else { return nil }
            return try? JSONValue.parse(Array(text.utf8))
        case .custom(let node, _): return node?["properties"]?[key]?["default"]
        }
    }

    /// The key of a map-list item: its key fields, defaulted where it leaves them out.
    func itemKey(_ item: JSONValue, _ keys: [String]) -> [String: JSONValue] {
        var key: [String: JSONValue] = [:]
        for k in keys { key[k] = item[k] ?? fieldDefault(k) }
        return key
    }

    /// The shape of a list at this node with these items.
    func listShape(_ items: [JSONValue]) -> ListShape {
        switch self {
        case .untyped:
            return ManagedFields.mergeKeys(items).map { .map($0) } ?? .atomic
        case .builtin(_, let field, _):
            return field.flatMap { KubeFieldShapes.lists[$0] } ?? .atomic
        case .custom(let node, _):
            switch node?["x-kubernetes-list-type"]?.stringValue {
            case "map":
                let keys = (node?["x-kubernetes-list-map-keys"]?.arrayValue ?? []).compactMap(\.stringValue)
                return keys.isEmpty ? .atomic : .map(keys)
            case "set":
                return .set
            default:
                return .atomic
            }
        }
    }
}

enum ServerSideApply {
    /// The live object with an applied configuration merged in, as the schema says: objects field
    /// by field (atomic ones replaced), map lists item by key (a key field an item leaves out has
    /// its default, which the merged item gets), sets as a union, every other list replaced.
    /// Kinds without a schema (`untyped`) use the strategic merge.
    static func merge(_ original: JSONValue, _ applied: JSONValue, schema: ApplySchema, key: String? = nil) -> JSONValue {
        if case .untyped = schema { return StrategicMerge.merge(original, applied, key: key) }
        switch applied {
        case .object(let appliedObject):
            if schema.isAtomicObject { return applied }
            var result = original.objectValue ?? [:]
            for (k, v) in appliedObject {
                if v.isNull { result.removeValue(forKey: k) } else { result[k] = merge(result[k] ?? .null, v, schema: schema.child(k), key: k) }
            }
            return .object(result)
        case .array(let appliedItems):
            let shape = schema.listShape(appliedItems)
            guard let originalItems = original.arrayValue else {
                guard case .map(let keys) = shape else { return applied }
                return .array(appliedItems.map { withKey($0, keys, schema.items) })
            }
            switch shape {
            case .atomic:
                return applied
            case .set:
                var merged = originalItems
                for item in appliedItems where !merged.contains(item) { merged.append(item) }
                return .array(merged)
            case .map(let keys):
                let items = schema.items
                var merged = originalItems
                for item in appliedItems {
                    let wanted = items.itemKey(item, keys)
                    if let index = merged.firstIndex(where: { items.itemKey($0, keys) == wanted }) {
                        merged[index] = merge(merged[index], withKey(item, keys, items), schema: items)
                    } else {
                        merged.append(withKey(item, keys, items))
                    }
                }
                return .array(merged)
            }
        default:
            return applied
        }
    }

    /// A map-list item with the defaults of the key fields it leaves out (what defaulting would add).
    private static func withKey(_ item: JSONValue, _ keys: [String], _ schema: ApplySchema) -> JSONValue {
        guard var object = item.objectValue else { return item }
        for k in keys where object[k] == nil { if let value = schema.fieldDefault(k) { object[k] = value } }
        return .object(object)
    }

    /// Server-side apply's removal of dropped fields: what `manager` owned by its last apply and
    /// leaves out of this one (`appliedSet`) is removed from `merged`, unless another manager, or
    /// this configuration, still owns it or a field beneath it. Key fields of a kept list item stay.
    static func removingDropped(from merged: JSONValue, manager: String, appliedSet: JSONValue, current: JSONValue) -> JSONValue {
        let entries = current[path: ["metadata", "managedFields"]]?.arrayValue ?? []
        func isMine(_ entry: JSONValue) -> Bool {
            entry["manager"]?.stringValue == manager && entry["operation"]?.stringValue == "Apply"
        }
        guard let previous = entries.first(where: isMine)?["fieldsV1"] else { return merged }
        let applied = ManagedFields.leaves(appliedSet)
        let kept = Set(applied)
        let owned = applied + entries.filter { !isMine($0) }.flatMap { ManagedFields.leaves($0["fieldsV1"] ?? [:]) }
        var result = merged
        for path in ManagedFields.leaves(previous) where !kept.contains(path) {
            if owned.contains(where: { $0.starts(with: path) }) || isKeyField(path) { continue }
            result = removingValue(at: path[...], from: result)
        }
        return result
    }

    /// A field that names its list item (`name` under `k:{"name":"c"}`).
    private static func isKeyField(_ path: ManagedFields.FieldPath) -> Bool {
        guard path.count >= 2, let last = path.last, last.hasPrefix("f:"), path[path.count - 2].hasPrefix("k:"),
              let key = try? JSONValue.parse(Array(path[path.count - 2].dropFirst(2).utf8)).objectValue
        else { return false }
        return key[String(last.dropFirst(2))] != nil
    }

    static func removingValue(at path: ArraySlice<String>, from value: JSONValue) -> JSONValue {
        guard let first = path.first else { return value }
        if first.hasPrefix("f:") {
            guard var object = value.objectValue else { return value }
            let field = String(first.dropFirst(2))
            if path.count == 1 {
                object.removeValue(forKey: field)
            } else if let child = object[field] {
                object[field] = removingValue(at: path.dropFirst(), from: child)
            }
            return .object(object)
        }
        guard var items = value.arrayValue, let index = ManagedFields.itemIndex(first, in: items) else { return value }
        if path.count == 1 { items.remove(at: index) } else { items[index] = removingValue(at: path.dropFirst(), from: items[index]) }
        return .array(items)
    }
}
