import Foundation
import SextantAPI
import SextantControllers
import SextantJSON
import SextantKube
import SextantKubeTypes
import SextantTestSupport
import Testing

/// Issue 20 (MPI, #15 in its text): a TrainingJob with `spec.workers: 2` runs as a Kubeflow MPIJob
/// (checked by the MPI Operator's own CRD in the dev API server), the local node runs it the way
/// the operator would with Open MPI's real `mpirun` and the real trainer, and the registered
/// model is byte-identical to the one of `workers: 1`.
@Suite("MPIJobs on the local node", .serialized)
struct MPIJobOnLocalNodeTests {
    @Test func twoWorkersRegisterTheModelOfOneWorker() async throws {
        guard DistributedMPI.mpirunPresent() else { return }
        try await withTrainingOnLocalNode(mpiJobs: true) { env, dir in
            let csv = dir.file("churn.csv")
            try writeChurnCSV(to: csv, rows: 1200)
            let models = dir.file("models")
            var tj = localTrainingJob("churn-mpi", model: "churn", csv: csv, models: models)
            // Several ranks train without a validation part (admission refuses one with workers > 1).
            tj.spec.data.split = DataSplit(train: 0.8, validation: 0, test: 0.2)
            _ = try await env.client.create(tj)
            try await env.eventually("churn-v1 from one worker", timeout: .seconds(120)) {
                if (try? await env.modelVersion("churn-v1")) != nil { return true }
                let run = try await env.trainingJob("churn-mpi").status?.runs?.first
                guard let run, run.result != .running, run.result != .succeeded else { return false }
                Issue.record("run 1 ended \(run.result): \(run.reason ?? "") \(run.message ?? "")")
                return true
            }
            #expect(try await env.job("churn-mpi-1").name == "churn-mpi-1", "workers: 1 runs a batch/v1 Job")

            // The same job on two workers: a spec change starts run 2 as an MPIJob.
            let _: TrainingJob = try await env.client.patch(TrainingJob.self, name: "churn-mpi", namespace: env.namespace,
                                                            .merge(["spec": ["workers": 2]]))
            try await env.eventually("run 2 on two workers finished", timeout: .seconds(120)) {
                let run = try await env.trainingJob("churn-mpi").status?.runs?.first { $0.name == "churn-mpi-2" }
                return run.map { $0.result != .running } ?? false
            }
            let finished = try #require(try await env.trainingJob("churn-mpi").status?.runs?.first { $0.name == "churn-mpi-2" })
            try #require(finished.result == .succeeded, "\(finished.reason ?? ""): \(finished.message ?? "")")
            try await env.eventually("churn-v2 from two workers", timeout: .seconds(30)) { (try? await env.modelVersion("churn-v2")) != nil }
            let one = try await env.modelVersion("churn-v1")
            let two = try await env.modelVersion("churn-v2")
            let artifact = models + "/churn/v2/model.json"
            #expect(two.spec.artifact.sha256 == (try sha256Hex(artifact)))
            #expect(two.spec.artifact.sha256 == one.spec.artifact.sha256, "two workers trained another model than one")
            #expect(two.spec.data?.sha256 == one.spec.data?.sha256)
            #expect(two.spec.metrics == one.spec.metrics)
            #expect(two.spec.lineage?.jobName == "churn-mpi-2")

            let run = try #require(try await env.trainingJob("churn-mpi").status?.runs?.first { $0.name == "churn-mpi-2" })
            #expect(run.workers == 2 && run.result == .succeeded, "\(run)")
            // The MPIJob as stored by the real CRD: nothing Sextant wrote was pruned.
            let mpiJob = try await env.client.get(TrainingEnvironment.mpiJobResource, name: "churn-mpi-2", namespace: env.namespace,
                                                  as: DynamicObject.self).raw
            #expect(mpiJob[path: ["spec", "runLauncherAsWorker"]]?.boolValue == true)
            #expect(mpiJob[path: ["spec", "mpiReplicaSpecs", "Worker", "replicas"]]?.intValue == 1)
            // The SSH Secret goes where the trainer image's non-root user looks for it: the image's
            // label (hack/images/Dockerfile.trainer), whose sshd/ssh hack/images/test.sh runs.
            let imageLabel = try TrainerImageContract.label("dev.sextant.mpi.ssh-auth-mount-path")
            #expect(mpiJob[path: ["spec", "sshAuthMountPath"]]?.stringValue == imageLabel, "image label: \(imageLabel)")
            // The commands hack/images/test.sh runs the image's launcher and worker with.
            let worker = mpiJob[path: ["spec", "mpiReplicaSpecs", "Worker", "template", "spec", "containers"]]?[0]
            #expect(worker?["command"]?.arrayValue?.compactMap(\.stringValue) == (try TrainerImageContract.testScriptCommand("mpi_worker_command")),
                    "\(worker ?? .null)")
            let launcher = mpiJob[path: ["spec", "mpiReplicaSpecs", "Launcher", "template", "spec", "containers"]]?[0]
            #expect(launcher?["command"]?.arrayValue?.compactMap(\.stringValue) == (try TrainerImageContract.testScriptCommand("mpi_launcher_command")),
                    "\(launcher ?? .null)")
            #expect(launcher?["terminationMessagePolicy"]?.stringValue == "FallbackToLogsOnError")
            #expect(mpiJob[path: ["metadata", "ownerReferences"]]?[0]?["kind"]?.stringValue == "TrainingJob")
            #expect(mpiJob[path: ["status", "conditions"]]?.arrayValue?.contains {
                $0["type"]?.stringValue == "Succeeded" && $0["status"]?.stringValue == "True"
            } == true, "\(mpiJob[path: ["status"]] ?? .null)")
            // The launcher's Pod ran both ranks (mpirun's log) and reported rank 0's summary.
            let pods = try await env.client.list(TrainingEnvironment.podResource, namespace: env.namespace,
                                                 options: ListOptions(labelSelector: "training.kubeflow.org/job-name=churn-mpi-2"),
                                                 as: DynamicObject.self).items
            let pod = try #require(pods.first?.raw)
            let terminated = pod[path: ["status", "containerStatuses"]]?[0]?[path: ["state", "terminated"]]
            #expect(terminated?["exitCode"]?.intValue == 0)
            #expect(terminated?["message"]?.stringValue?.contains(two.spec.artifact.sha256 ?? "-") == true)
        }
    }

    /// Without `--mpi-jobs` a TrainingJob with workers > 1 is Invalid, naming the field and the flag;
    /// what the trainer cannot do on several ranks (here the default validation part) is refused
    /// by field at admission, not after a run.
    @Test func workersWithoutMPIJobsAreInvalid() async throws {
        let env = try await TrainingEnvironment.start()
        do {
            var tj = sampleTrainingJob("wide")
            tj.spec.workers = 4
            _ = try await env.client.create(tj)
            try await env.eventually("Invalid") { try await env.trainingJob("wide").status?.phase == .invalid }
            let ready = try await env.trainingJob("wide").status?.conditions?.first { $0.type == "Ready" }
            #expect(ready?.message.contains("spec.workers") == true && ready?.message.contains("--mpi-jobs") == true,
                    "\(String(describing: ready))")
            #expect(ready?.message.contains("spec.data.split.validation: Invalid: must be 0") == true, "\(String(describing: ready))")
            #expect(try await env.jobs(of: "wide").isEmpty)
        } catch {
            await env.stop()
            throw error
        }
        await env.stop()
    }
}

enum DistributedMPI {
    /// Open MPI's mpirun on this machine; a missing one fails the test naming the package.
    static func mpirunPresent() -> Bool {
        if ["/usr/bin/mpirun", "/usr/local/bin/mpirun"].contains(where: FileManager.default.isExecutableFile(atPath:)) { return true }
        Issue.record("mpirun (Debian package openmpi-bin) is required for the MPIJob tests: apt-get install openmpi-bin libopenmpi-dev")
        return false
    }
}
