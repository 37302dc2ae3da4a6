import Foundation
import Logging
import SextantAPI
import SextantKube
import SextantKubeTypes
import SextantOperator

/// Adds the CanaryRollout controller to `manager`.
///
/// Triggered by its CanaryRollouts, by the Deployments it owns (readiness), and by
/// ModelVersions of a rollout's model (approval, rejection), mapped to the rollouts that name them.
@discardableResult
public func addCanaryRolloutController(to manager: Manager, settings: ControllerSettings,
                                       analysis: RolloutAnalysis? = nil, concurrency: Int = 2) -> Controller {
    let logger = Logger(label: "sextant.controllers.canaryrollout")
    let rollouts = manager.informer(resource: RolloutServing.canaryRollouts, as: DynamicObject.self)
    let modelVersions = manager.informer(resource: ResourceDescriptor(ModelVersion.self), as: DynamicObject.self)
    let deployments = manager.informer(resource: RolloutServing.deployments, labelSelector: SextantLabel.canaryRollout,
                                       as: DynamicObject.self)
    let reconciler = CanaryRolloutReconciler(
        client: manager.client, settings: settings, rollouts: rollouts.cache, modelVersions: modelVersions.cache,
        deployments: deployments.cache, analysis: analysis ?? RolloutAnalysis(settings: settings),
        events: manager.eventRecorder(), logger: logger)
    let controller = Controller(name: "canaryrollout", reconciler: reconciler,
                                options: ControllerOptions(concurrency: concurrency), metrics: manager.metrics)
    let rolloutCache = rollouts.cache
    controller.watchPrimary(rollouts)
        .owns(deployments, ownerKind: CanaryRollout.kind, ownerGroup: CanaryRollout.group)
        .watches(modelVersions) { version in
            guard let model = version.raw["spec"]?["modelName"]?.stringValue else { return [] }
            let namespace = version.metadata.namespace ?? ""
            return rolloutCache.list(namespace: namespace).compactMap { rollout in
                guard rollout.raw["spec"]?["modelName"]?.stringValue == model else { return nil }
                return ObjectKey(namespace: namespace, name: rollout.metadata.name ?? "")
            }
        }
    manager.add(controller)
    return controller
}
