import Foundation
import Logging
import SextantAPI
import SextantKube
import SextantKubeTypes
import SextantOperator

/// Adds the CanaryRollout controller to `manager`.
///
/// Triggered by its CanaryRollouts, by the Deployments it owns (readiness), by the Deployments
/// that external serving names (readiness, GitOps updating the stable one; a slim copy of every
/// Deployment is cached for this), and by ModelVersions of a rollout's model (approval,
/// rejection), mapped to the rollouts that name them.
@discardableResult
public func addCanaryRolloutController(to manager: Manager, settings: ControllerSettings,
                                       analysis: RolloutAnalysis? = nil, concurrency: Int = 2) -> Controller {
    let logger = Logger(label: "sextant.controllers.canaryrollout")
    let rollouts = manager.informer(resource: RolloutServing.canaryRollouts, as: DynamicObject.self)
    let modelVersions = manager.informer(resource: ResourceDescriptor(ModelVersion.self), as: DynamicObject.self)
    let deployments = manager.informer(resource: RolloutServing.deployments, labelSelector: SextantLabel.canaryRollout,
                                       as: DynamicObject.self)
    let servingDeployments = manager.informer(resource: RolloutServing.deployments, as: ServingDeployment.self)
    let reconciler = CanaryRolloutReconciler(
        client: manager.client, settings: settings, rollouts: rollouts.cache, modelVersions: modelVersions.cache,
        deployments: deployments.cache, servingDeployments: servingDeployments.cache, analysis: analysis ?? RolloutAnalysis(settings: settings, readSecret: PrometheusTargets.reader(manager.client)),
        events: manager.eventRecorder(),
        notifier: Notifier(client: manager.client, events: manager.eventRecorder(), policy: settings.notificationDelivery,
                           caFile: settings.webhookCAFile),
        logger: logger)
    let controller = Controller(name: "canaryrollout", reconciler: reconciler,
                                options: ControllerOptions(concurrency: concurrency, keyFilter: manager.shardKeyFilter),
                                metrics: manager.metrics)
    let rolloutCache = rollouts.cache
    controller.watchPrimary(rollouts)
        .owns(deployments, ownerKind: CanaryRollout.kind, ownerGroup: CanaryRollout.group)
        .watches(modelVersions) { version in
            guard let model = version.raw["spec"]?["modelName"]?.stringValue else { return [] }
            return rolloutCache.list(modelName: model, namespace: version.namespace ?? "").compactMap { ObjectKey($0) }
        }
        .watches(servingDeployments) { deployment in
            guard let name = deployment.metadata.name else { return [] }
            return rolloutCache.list(servingDeployment: name, namespace: deployment.metadata.namespace ?? "")
                .compactMap { ObjectKey($0) }
        }
    manager.add(controller)
    return controller
}
