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

/// The schema server-side apply walks. Custom resources follow their structural schema
/// (`x-kubernetes-list-type` and `x-kubernetes-list-map-keys`; a list that declares neither is
/// atomic, as for kube-apiserver). Built-in kinds and the root `metadata` of a custom resource have
/// no Go types here: lists of objects are keyed by the well-known merge keys (`ManagedFields.mergeKeys`).
enum ApplySchema: Sendable {
    case builtin
    /// A custom resource's schema node; nil below fields the schema does not declare.
    case custom(JSONValue?, root: Bool)

    init(_ type: ResourceType) {
        self = type.isCustom ? .custom(type.schema, root: true) : .builtin
    }

    func child(_ key: String) -> ApplySchema {
        guard case .custom(let node, let root) = self else { return .builtin }
        if root && key == "metadata" { return .builtin }
        if let property = node?["properties"]?[key] { return .custom(property, root: false) }
        if let additional = node?["additionalProperties"], additional.objectValue != nil { return .custom(additional, root: false) }
        return .custom(nil, root: false)
    }

    var items: ApplySchema {
        guard case .custom(let node, _) = self else { return .builtin }
        return .custom(node?["items"], root: false)
    }

    /// The shape of a list at this node with these items.
    func listShape(_ items: [JSONValue]) -> ListShape {
        guard case .custom(let node, _) = self else {
            return ManagedFields.mergeKeys(items).map { .map($0) } ?? .atomic
        }
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

enum ServerSideApply {
    /// The live object with an applied configuration merged in. Built-in kinds use the strategic
    /// merge; custom resources merge lists as their schema declares (map lists item by key, sets
    /// as a union, everything else replaced).
    static func merge(_ original: JSONValue, _ applied: JSONValue, schema: ApplySchema, key: String? = nil) -> JSONValue {
        guard case .custom = schema else { return StrategicMerge.merge(original, applied, key: key) }
        switch applied {
        case .object(let appliedObject):
            var result = original.objectValue ?? [:]
            for (k, v) in appliedObject {
                if v.isNull { result.removeValue(forKey: k) } else { result[k] = merge(result[k] ?? .null, v, schema: schema.child(k), key: k) }
            }
            return .object(result)
        case .array(let appliedItems):
            guard let originalItems = original.arrayValue else { return applied }
            switch schema.listShape(appliedItems) {
            case .atomic:
                return applied
            case .set:
                var merged = originalItems
                for item in appliedItems where !merged.contains(item) { merged.append(item) }
                return .array(merged)
            case .map(let keys):
                var merged = originalItems
                for item in appliedItems {
                    if let index = merged.firstIndex(where: { live in keys.allSatisfy { live[$0] == item[$0] } }) {
                        merged[index] = merge(merged[index], item, schema: schema.items)
                    } else {
                        merged.append(item)
                    }
                }
                return .array(merged)
            }
        default:
            return applied
        }
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
