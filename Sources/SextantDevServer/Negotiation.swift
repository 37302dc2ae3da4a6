import SextantJSON

/// The representation a client asked for in `Accept`, chosen as kube-apiserver chooses it: the
/// first alternative it can serve, skipping protobuf (not served here) and `as=` conversions that
/// do not fit the request; none left is 406 NotAcceptable.
enum OutputFormat: Equatable {
    case json
    /// `meta.k8s.io` Table (`kubectl get`), at v1 or v1beta1.
    case table(version: String)
    /// `PartialObjectMetadata` / `PartialObjectMetadataList` (metadata-only informers).
    case partialMetadata(version: String)

    /// What a request reads: one object, a list, or a watch (whose events carry single objects).
    enum Shape { case object, list, watch }

    static func negotiate(_ accept: String?, shape: Shape) throws(APIError) -> OutputFormat {
        guard let accept, !accept.trimmingSpaces.isEmpty else { return .json }
        for alternative in accept.split(separator: ",") {
            var parts = alternative.split(separator: ";").map { $0.trimmingSpaces }
            guard !parts.isEmpty else { continue }
            let mediaType = parts.removeFirst().lowercased()
            guard ["application/json", "application/*", "*/*", "application/json+watch"].contains(mediaType) else { continue }
            var parameters: [String: String] = [:]
            for parameter in parts {
                let kv = parameter.split(separator: "=", maxSplits: 1).map { $0.trimmingSpaces }
                if kv.count == 2 { parameters[kv[0].lowercased()] = kv[1] }
            }
            guard let target = parameters["as"] else { return .json }
            let group = parameters["g"] ?? "", version = parameters["v"] ?? ""
            guard group == "meta.k8s.io", version == "v1" || version == "v1beta1" else { continue }
            switch (target, shape) {
            case ("Table", _):
                return .table(version: version)
            case ("PartialObjectMetadata", .object), ("PartialObjectMetadata", .watch),
                 ("PartialObjectMetadataList", .list), ("PartialObjectMetadataList", .watch):
                return .partialMetadata(version: version)
            default:
                continue
            }
        }
        throw APIError(code: 406, reason: "NotAcceptable",
                       message: "only the following media types are accepted: application/json, "
                           + "application/json;as=Table;v=v1;g=meta.k8s.io, "
                           + "application/json;as=PartialObjectMetadata;v=v1;g=meta.k8s.io, "
                           + "application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io (got \(accept))")
    }

    /// An object as `PartialObjectMetadata`: its metadata only.
    static func partialMetadata(_ object: JSONValue, version: String) -> JSONValue {
        ["kind": "PartialObjectMetadata", "apiVersion": .string("meta.k8s.io/\(version)"),
         "metadata": object["metadata"] ?? [:]]
    }

    static func partialMetadataList(_ objects: [JSONValue], listMeta: JSONValue, version: String) -> JSONValue {
        ["kind": "PartialObjectMetadataList", "apiVersion": .string("meta.k8s.io/\(version)"), "metadata": listMeta,
         "items": .array(objects.map { partialMetadata($0, version: version) })]
    }

    /// Key under which the store caches one encoding of an event for all watchers of this format.
    func cacheKey(include: TableConverter.IncludeObject) -> String {
        switch self {
        case .json: "json"
        case .table(let version): "table-\(version)-\(include.rawValue)"
        case .partialMetadata(let version): "pom-\(version)"
        }
    }
}
