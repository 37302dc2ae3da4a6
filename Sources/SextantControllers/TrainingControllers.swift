import Foundation
import Logging
import SextantAPI
import SextantDomain
import SextantKube
import SextantKubeTypes
import SextantOperator
import SextantPrometheus

/// Runs one retrain query: the Prometheus to ask, rendered PromQL → what it returned.
public typealias RetrainQuery = @Sendable (_ target: PrometheusTarget, _ promql: String) async -> RetrainObservation

/// The default `RetrainQuery`: an instant query through `SextantPrometheus`.
public let prometheusRetrainQuery: RetrainQuery = { target, promql in
    do {
        switch try await target.client().singleValue(promql) {
        case .value(let v): return v.isNaN ? .noData : .value(v)
        case .noData: return .noData
        }
    } catch {
        return .error("\(error)")
    }
}

/// The controllers `addTrainingControllers` added, for callers that want to watch them.
public struct TrainingControllers: Sendable {
    public let trainingJobs: Controller
    public let modelVersions: Controller
}

/// Adds the TrainingJob and ModelVersion controllers to `manager`.
///
/// Informers (shared through the manager): TrainingJobs, ModelVersions and CanaryRollouts as
/// `DynamicObject` (so one object that does not decode gets an `InvalidSpec` condition instead
/// of breaking the whole list), and `batch/v1` Jobs and Pods carrying the
/// `mlops.sextant.dev/training-job` label (and Kubeflow MPIJobs with it, when `settings.mpiJobs`).
///
/// The TrainingJob controller is triggered by its TrainingJobs, by Jobs it controls
/// (ownerReference), by Pods and ModelVersions labelled with a training job (mapped by label, as
/// ModelVersions have no ownerReference) and by CanaryRollouts named in `spec.release.canaryRollout`.
@discardableResult
public func addTrainingControllers(to manager: Manager, settings: ControllerSettings,
                                   query: @escaping RetrainQuery = prometheusRetrainQuery,
                                   concurrency: Int = 2) -> TrainingControllers {
    let logger = Logger(label: "sextant.controllers.training")
    let trainingJobs = manager.informer(resource: TrainingResources.trainingJobs, as: DynamicObject.self)
    let modelVersions = manager.informer(resource: TrainingResources.modelVersions, as: DynamicObject.self)
    let rollouts = manager.informer(resource: TrainingResources.canaryRollouts, as: DynamicObject.self)
    let jobs = manager.informer(resource: TrainingResources.jobs, labelSelector: SextantLabel.trainingJob, as: DynamicObject.self)
    let pods = manager.informer(resource: TrainingResources.pods, labelSelector: SextantLabel.trainingJob, as: DynamicObject.self)
    let events = manager.eventRecorder()
    // Only with --mpi-jobs: without the MPI Operator's CRD this informer would never sync.
    let mpiJobs = settings.mpiJobs
        ? manager.informer(resource: TrainingMPIJob.resource, labelSelector: SextantLabel.trainingJob, as: DynamicObject.self) : nil

    var tjReconciler = TrainingJobReconciler(client: manager.client, settings: settings, trainingJobs: trainingJobs.cache,
                                             jobs: jobs.cache, pods: pods.cache, modelVersions: modelVersions.cache,
                                             rollouts: rollouts.cache, events: events, query: query,
                                             notifier: Notifier(client: manager.client, events: events,
                                                                policy: settings.notificationDelivery, caFile: settings.webhookCAFile),
                                             logger: logger)
    tjReconciler.mpiJobs = mpiJobs?.cache
    let tjController = Controller(name: "trainingjob", reconciler: tjReconciler,
                                  options: ControllerOptions(concurrency: concurrency, keyFilter: manager.shardKeyFilter),
                                  metrics: manager.metrics)
    let byLabel: @Sendable (DynamicObject) -> [ObjectKey] = { object in
        guard let tj = object.metadata.labels?[SextantLabel.trainingJob] else { return [] }
        return [ObjectKey(namespace: object.namespace ?? "", name: tj)]
    }
    let trainingJobCache = trainingJobs.cache
    tjController.watchPrimary(trainingJobs)
        .owns(jobs, ownerKind: TrainingJob.kind, ownerGroup: SextantGroup.name)
        .watches(pods, map: byLabel)
        .watches(modelVersions, map: byLabel)
        .watches(rollouts) { rollout in
            // TrainingJobs that hand versions to this rollout.
            trainingJobCache.list(namespace: rollout.namespace ?? "").compactMap { tj in
                guard tj.raw[path: ["spec", "release", "canaryRollout"]]?.stringValue == rollout.name else { return nil }
                return ObjectKey(tj)
            }
        }
    if let mpiJobs { tjController.owns(mpiJobs, ownerKind: TrainingJob.kind, ownerGroup: SextantGroup.name) }
    manager.add(tjController)

    let mvReconciler = ModelVersionReconciler(client: manager.client, settings: settings, modelVersions: modelVersions.cache,
                                              events: events, logger: logger)
    let mvCache = modelVersions.cache
    // The registry's invariants span the versions of a model: one shard owns all of them.
    var mvFilter: (@Sendable (ObjectKey) -> Bool)?
    if let shard = manager.options.shard, shard.count > 1 {
        mvFilter = { (key: ObjectKey) -> Bool in
            let model = mvCache.get(key)?.raw[path: ["spec", "modelName"]]?.stringValue
            return shard.owns("\(key.namespace)/\(model ?? key.name)")
        }
    }
    let mvController = Controller(name: "modelversion", reconciler: mvReconciler,
                                  options: ControllerOptions(concurrency: concurrency, keyFilter: mvFilter), metrics: manager.metrics)
    mvController.watchPrimary(modelVersions)
        // Registry invariants span the versions of a model: a change to one re-checks the others.
        .watches(modelVersions) { changed in
            guard let model = changed.raw[path: ["spec", "modelName"]]?.stringValue else { return [] }
            return mvCache.list(modelName: model, namespace: changed.namespace ?? "").compactMap { other in
                other.name != changed.name ? ObjectKey(other) : nil
            }
        }
    manager.add(mvController)
    return TrainingControllers(trainingJobs: tjController, modelVersions: mvController)
}
