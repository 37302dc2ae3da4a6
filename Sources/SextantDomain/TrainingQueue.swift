import Foundation
import SextantAPI

/// Kueue compatibility of a run's Job or MPIJob (docs/training.md#kueue). Pure: labels in,
/// labels, `suspend` and the run's waiting reason out.
///
/// A TrainingJob labelled `kueue.x-k8s.io/queue-name` hands admission to Kueue: the label (and
/// `kueue.x-k8s.io/priority-class`) is copied onto the workload, which is created suspended;
/// Kueue admits it by setting `suspend` to false. Sextant then never unsuspends it itself, and
/// reports the suspended run as waiting (`AwaitingAdmission`), neither failed nor timed out:
/// the workload's deadline counts from its start.
public enum TrainingQueue {
    public static let queueLabel = "kueue.x-k8s.io/queue-name"
    public static let priorityClassLabel = "kueue.x-k8s.io/priority-class"
    /// Kueue's labels the workload carries over from the TrainingJob.
    public static let passedLabels = [queueLabel, priorityClassLabel]
    /// A run's `reason` while its workload waits for admission.
    public static let awaitingAdmission = "AwaitingAdmission"

    /// The Kueue queue of a TrainingJob's runs (nil: not queued).
    public static func queue(labels: [String: String]?) -> String? {
        guard let name = labels?[queueLabel], !name.isEmpty else { return nil }
        return name
    }

    /// The Kueue labels to copy onto the workload.
    public static func workloadLabels(_ labels: [String: String]?) -> [String: String] {
        (labels ?? [:]).filter { passedLabels.contains($0.key) && !$0.value.isEmpty }
    }

    /// Whether a new workload is created suspended: the TrainingJob is suspended, or Kueue admits it.
    public static func createSuspended(userSuspended: Bool, queue: String?) -> Bool { userSuspended || queue != nil }

    /// The `suspend` value to patch onto a running workload (nil: leave it). Without a queue the
    /// workload follows the TrainingJob's `runPolicy.suspend`; with one only suspending is
    /// Sextant's: resuming is Kueue's admission.
    public static func suspendPatch(userSuspended: Bool, queue: String?, workloadSuspended: Bool) -> Bool? {
        guard workloadSuspended != userSuspended else { return nil }
        if queue != nil, !userSuspended { return nil }
        return userSuspended
    }

    /// The run's reason and message while its workload waits for Kueue (nil: it does not wait).
    public static func waiting(queue: String?, userSuspended: Bool, workloadSuspended: Bool, kind: String,
                               name: String) -> (reason: String, message: String)? {
        guard let queue, workloadSuspended, !userSuspended else { return nil }
        return (awaitingAdmission, "\(kind) \(name) is suspended until Kueue admits it from queue \(queue)")
    }
}
