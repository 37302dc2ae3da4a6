import Foundation
import SextantAPI
import SextantControllers
import SextantDomain
import SextantJSON
import SextantKube
import SextantKubeTypes
import SextantTestSupport
import Testing

/// Issue 20, item 5: a TrainingJob labelled with a Kueue queue gets a suspended workload carrying
/// Kueue's labels; the run waits (not failed, not timed out) until Kueue (played by the test)
/// unsuspends it. Kueue itself is not run here (its CRDs are not in the fixtures).
@Suite("Kueue admission", .serialized)
struct KueueAdmissionTests {
    static let labels = [TrainingQueue.queueLabel: "team-a", TrainingQueue.priorityClassLabel: "batch-low"]

    /// Job on the local node: no Pod while suspended, the run says it waits for admission; once
    /// admitted it trains and registers, and the Job's deadline counts from the admission.
    @Test func queuedJobWaitsForAdmissionThenRegisters() async throws {
        try await withTrainingOnLocalNode { env, dir in
            let csv = dir.file("churn.csv")
            try writeChurnCSV(to: csv, rows: 500)
            var tj = localTrainingJob("queued", model: "churn", csv: csv, models: dir.file("models"))
            tj.metadata.labels = Self.labels
            var policy = RunPolicy()
            policy.activeDeadlineSeconds = 120
            tj.spec.runPolicy = policy
            _ = try await env.client.create(tj)

            try await env.eventually("the run waits for admission", timeout: .seconds(30)) {
                let status = try await env.trainingJob("queued").status
                return status?.runs?.first?.reason == TrainingQueue.awaitingAdmission
            }
            let job = try await env.job("queued-1").raw
            #expect(job[path: ["spec", "suspend"]]?.boolValue == true)
            #expect(job[path: ["metadata", "labels", TrainingQueue.queueLabel]]?.stringValue == "team-a")
            #expect(job[path: ["metadata", "labels", TrainingQueue.priorityClassLabel]]?.stringValue == "batch-low")
            // Nothing runs for a while: no Pod, the run still running (waiting), the status names the queue.
            let quiet = ContinuousClock.now.advanced(by: .seconds(3))
            while ContinuousClock.now < quiet {
                let pods = try await env.client.list(TrainingEnvironment.podResource, namespace: env.namespace,
                                                     options: ListOptions(labelSelector: "\(SextantLabel.run)=queued-1"),
                                                     as: DynamicObject.self).items
                #expect(pods.isEmpty, "a Pod ran before admission: \(pods.compactMap(\.name))")
                let status = try await env.trainingJob("queued").status
                #expect(status?.runs?.first?.result == .running, "\(String(describing: status?.runs?.first))")
                try await Task.sleep(for: .milliseconds(300))
            }
            let waiting = try await env.trainingJob("queued").status
            let running = waiting?.conditions?.first { $0.type == "Running" }
            #expect(running?.status == "False" && running?.reason == TrainingQueue.awaitingAdmission, "\(String(describing: running))")
            #expect(running?.message.contains("team-a") == true, "\(String(describing: running))")
            #expect(waiting?.message?.contains("waits for admission") == true, "\(waiting?.message ?? "")")
            #expect(try await env.modelVersions().isEmpty)

            // Kueue admits the workload.
            let admitted = Date()
            let _: DynamicObject = try await env.client.patch(TrainingEnvironment.jobResource, name: "queued-1",
                                                              .merge(["spec": ["suspend": false]]), namespace: env.namespace)
            try await env.eventually("churn-v1 registered after admission", timeout: .seconds(60)) {
                if (try? await env.modelVersion("churn-v1")) != nil { return true }
                let run = try await env.trainingJob("queued").status?.runs?.first
                guard let run, run.result != .running, run.result != .succeeded else { return false }
                Issue.record("the run ended \(run.result): \(run.reason ?? "") \(run.message ?? "")")
                return true
            }
            let started = try await env.job("queued-1").raw[path: ["status", "startTime"]]?.stringValue.flatMap(KubeTime.parse)
            #expect(started.map { $0 >= admitted.addingTimeInterval(-1) } == true, "the deadline must count from the admission: \(String(describing: started))")
            #expect(try await env.job("queued-1").raw[path: ["spec", "suspend"]]?.boolValue == false, "Sextant suspended the admitted Job again")
            try await env.eventually("the run succeeded", timeout: .seconds(30)) {
                try await env.trainingJob("queued").status?.runs?.first?.result == .succeeded
            }
        }
    }

    /// An MPIJob in the queue: Kueue's labels and `runPolicy.suspend` as stored by the MPI
    /// Operator's own CRD (nothing pruned), and the run waits for admission.
    @Test func queuedMPIJobIsCreatedSuspended() async throws {
        let env = try await TrainingEnvironment.start(mpiJobs: true)
        do {
            var tj = sampleTrainingJob("wide")
            tj.metadata.labels = Self.labels
            tj.spec.workers = 2
            tj.spec.data.split = DataSplit(train: 0.8, validation: 0, test: 0.2)
            _ = try await env.client.create(tj)
            try await env.eventually("the MPIJob run waits for admission", timeout: .seconds(30)) {
                try await env.trainingJob("wide").status?.runs?.first?.reason == TrainingQueue.awaitingAdmission
            }
            let mpiJob = try await env.client.get(TrainingEnvironment.mpiJobResource, name: "wide-1", namespace: env.namespace,
                                                  as: DynamicObject.self).raw
            #expect(mpiJob[path: ["spec", "runPolicy", "suspend"]]?.boolValue == true, "\(mpiJob[path: ["spec", "runPolicy"]] ?? .null)")
            #expect(mpiJob[path: ["metadata", "labels", TrainingQueue.queueLabel]]?.stringValue == "team-a")
            #expect(mpiJob[path: ["metadata", "labels", TrainingQueue.priorityClassLabel]]?.stringValue == "batch-low")
            let run = try #require(try await env.trainingJob("wide").status?.runs?.first)
            #expect(run.result == .running && run.workers == 2 && run.message?.contains("MPIJob wide-1") == true, "\(run)")
            // Kueue admits: the run is no longer waiting, and Sextant leaves the MPIJob running.
            let _: DynamicObject = try await env.client.patch(TrainingEnvironment.mpiJobResource, name: "wide-1",
                                                              .merge(["spec": ["runPolicy": ["suspend": false]]]), namespace: env.namespace)
            try await env.eventually("admitted", timeout: .seconds(30)) {
                let run = try await env.trainingJob("wide").status?.runs?.first
                return run?.result == .running && run?.reason == nil
            }
            let after = try await env.client.get(TrainingEnvironment.mpiJobResource, name: "wide-1", namespace: env.namespace,
                                                 as: DynamicObject.self).raw
            #expect(after[path: ["spec", "runPolicy", "suspend"]]?.boolValue == false)
        } catch {
            await env.stop()
            throw error
        }
        await env.stop()
    }
}
