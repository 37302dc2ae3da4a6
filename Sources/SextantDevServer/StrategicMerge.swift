import SextantJSON

/// Strategic merge patch as far as `kubectl` needs it for built-in kinds, and the merge used for
/// server-side apply of built-in kinds (custom resources: `ServerSideApply.merge`).
///
/// The real server reads merge keys from Go struct tags; this server has no Go types, so lists of
/// objects are merged by the first key every element carries among the well-known merge keys
/// (`name`, `containerPort`, `mountPath`, `port`, `uid`, `type`, `ip`), and replaced otherwise. The
/// directives `$patch` (replace/delete), `$setElementOrder/…`, `$retainKeys` and
/// `$deleteFromPrimitiveList/…` are honoured or dropped so they never reach storage.
enum StrategicMerge {
    static let mergeKeys = ["name", "containerPort", "mountPath", "port", "uid", "type", "ip", "devicePath"]
    /// Primitive lists whose Go type has `patchStrategy:"merge"`.
    static let mergedPrimitiveLists: Set<String> = ["finalizers"]

    static func apply(_ patch: JSONValue, to original: JSONValue) -> JSONValue {
        merge(original, patch, key: nil)
    }

    static func merge(_ original: JSONValue, _ patch: JSONValue, key: String?) -> JSONValue {
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
                    result[k] = merge(result[k] ?? .null, v, key: k)
                }
            }
            return .object(result)
        case .array(let patchItems):
            guard let originalItems = original.arrayValue else { return stripDirectives(patch) }
            if let key, mergedPrimitiveLists.contains(key), patchItems.allSatisfy({ $0.objectValue == nil }) {
                var merged = originalItems
                for item in patchItems where !merged.contains(item) { merged.append(item) }
                return .array(merged)
            }
            guard let mergeKey = mergeKey(for: patchItems) else { return stripDirectives(patch) }
            var merged = originalItems
            for item in patchItems {
                guard let id = item[mergeKey] else { continue }
                let index = merged.firstIndex { $0[mergeKey] == id }
                if item["$patch"]?.stringValue == "delete" {
                    if let index { merged.remove(at: index) }
                } else if let index {
                    merged[index] = merge(merged[index], item, key: nil)
                } else {
                    merged.append(stripDirectives(item))
                }
            }
            return .array(merged)
        default:
            return patch
        }
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
