import SextantJSON

/// Strategic merge patch as far as `kubectl` needs it for built-in kinds, and the merge used for
/// server-side apply of built-in kinds (custom resources: `ServerSideApply.merge`).
///
/// The real server reads merge keys from Go struct tags (`patchStrategy`, `patchMergeKey`); built-in
/// kinds here take the same from the generated.proto markers (`KubeFieldShapes.patchMergeKeys`,
/// walked with `ApplySchema`): a list with strategy `merge` is merged by its merge key (scalars as a
/// union), every other list replaced. Kinds without descriptors (`untyped`: apiextensions) merge
/// lists of objects by the first key every element carries among the well-known merge keys
/// (`name`, `containerPort`, `mountPath`, `port`, `uid`, `type`, `ip`), and replace others. The
/// directives `$patch` (replace/delete), `$setElementOrder/…`, `$retainKeys` and
/// `$deleteFromPrimitiveList/…` are honoured or dropped so they never reach storage.
enum StrategicMerge {
    static let mergeKeys = ["name", "containerPort", "mountPath", "port", "uid", "type", "ip", "devicePath"]
    /// Primitive lists whose Go type has `patchStrategy:"merge"`.
    static let mergedPrimitiveLists: Set<String> = ["finalizers"]

    static func apply(_ patch: JSONValue, to original: JSONValue, schema: ApplySchema = .untyped) -> JSONValue {
        merge(original, patch, key: nil, schema: schema)
    }

    static func merge(_ original: JSONValue, _ patch: JSONValue, key: String?, schema: ApplySchema = .untyped) -> JSONValue {
        switch patch {
        case .object(let patchObject):
            if patchObject["$patch"]?.stringValue == "replace" {
                var replaced = patchObject
                replaced.removeValue(forKey: "$patch")
                return .object(replaced)
            }
            var result = original.objectValue ?? [:]
            for (k, v) in patchObject {
                if k == "$patch" || k == "$retainKeys" || k.hasPrefix("$setElementOrder/") { continue }
                if k.hasPrefix("$deleteFromPrimitiveList/") {
                    let listKey = String(k.dropFirst("$deleteFromPrimitiveList/".count))
                    let remove = Set(v.arrayValue ?? [])
                    if let list = result[listKey]?.arrayValue {
                        result[listKey] = .array(list.filter { !remove.contains($0) })
                    }
                    continue
                }
                if v.isNull {
                    result.removeValue(forKey: k)
                } else if v["$patch"]?.stringValue == "delete" {
                    result.removeValue(forKey: k)
                } else {
                    result[k] = merge(result[k] ?? .null, v, key: k, schema: schema.child(k))
                }
            }
            return .object(result)
        case .array(let patchItems):
            guard let originalItems = original.arrayValue else { return stripDirectives(patch) }
            let mergeKey: String
            switch listPatch(patchItems, key: key, schema: schema) {
            case .replace:
                return stripDirectives(patch)
            case .union:
                var merged = originalItems
                for item in patchItems where !merged.contains(item) { merged.append(item) }
                return .array(merged)
            case .byKey(let name):
                mergeKey = name
            }
            var merged = originalItems
            for item in patchItems {
                guard let id = item[mergeKey] else { continue }
                let index = merged.firstIndex { $0[mergeKey] == id }
                if item["$patch"]?.stringValue == "delete" {
                    if let index { merged.remove(at: index) }
                } else if let index {
                    merged[index] = merge(merged[index], item, key: nil, schema: schema.items)
                } else {
                    merged.append(stripDirectives(item))
                }
            }
            return .array(merged)
        default:
            return patch
        }
    }

    enum ListPatch: Equatable { case replace, union, byKey(String) }

    /// How a list is patched: a built-in type's field by its `patchStrategy`/`patchMergeKey`, a kind
    /// without descriptors by the well-known keys its items carry.
    static func listPatch(_ items: [JSONValue], key: String?, schema: ApplySchema) -> ListPatch {
        if case .builtin(_, let field, _) = schema {
            switch field.flatMap({ KubeFieldShapes.patchMergeKeys[$0] }) {
            case nil: return .replace
            case ""?: return .union
            case let name?: return .byKey(name)
            }
        }
        if let key, mergedPrimitiveLists.contains(key), items.allSatisfy({ $0.objectValue == nil }) { return .union }
        return mergeKey(for: items).map { .byKey($0) } ?? .replace
    }

    static func mergeKey(for items: [JSONValue]) -> String? {
        guard !items.isEmpty, items.allSatisfy({ $0.objectValue != nil }) else { return nil }
        return mergeKeys.first { k in items.allSatisfy { $0[k] != nil } }
    }

    static func stripDirectives(_ value: JSONValue) -> JSONValue {
        switch value {
        case .object(let o):
            var result: [String: JSONValue] = [:]
            for (k, v) in o where !k.hasPrefix("$") { result[k] = stripDirectives(v) }
            return .object(result)
        case .array(let a):
            return .array(a.map(stripDirectives))
        default:
            return value
        }
    }
}
