import SextantKubeTypes
import SextantOperator

/// The cache indexes the controllers look objects up by, each defined once. Triggers and passes
/// that used to list a namespace and filter (unpacking every cached object of it) ask the index.
/// Asking adds the index on first use (idempotent), so a cache built without it still answers.
extension Cache where Object == DynamicObject {
    /// CanaryRollouts or ModelVersions whose `spec.modelName` is `modelName`.
    public func list(modelName: String, namespace: String) -> [DynamicObject] {
        addIndex("modelName") { object in
            object.raw[path: ["spec", "modelName"]]?.stringValue.map { ["\(object.namespace ?? "")/\($0)"] } ?? []
        }
        return list(index: "modelName", value: "\(namespace)/\(modelName)")
    }

    /// CanaryRollouts whose external serving names Deployment `deployment` (stable or canary).
    public func list(servingDeployment deployment: String, namespace: String) -> [DynamicObject] {
        addIndex("servingDeployment") { object in
            let external = object.raw[path: ["spec", "serving", "external"]]
            return ["stableDeployment", "canaryDeployment"].compactMap { field in
                external?[field]?.stringValue.map { "\(object.namespace ?? "")/\($0)" }
            }
        }
        return list(index: "servingDeployment", value: "\(namespace)/\(deployment)")
    }
}
