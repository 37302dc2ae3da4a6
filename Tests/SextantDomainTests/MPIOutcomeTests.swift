import SextantDomain
import Testing

/// How an MPIJob run's failure is classified (issue 20, item 3): the kernel's verdict on a worker
/// first, the deadline before a worker killed by the clean-up, a rank's exit 2/3 passed through mpirun.
@Suite("MPIJob run outcomes")
struct MPIOutcomeTests {
    func observation(launcher: ContainerTermination?, workers: [WorkerFailure], reason: String = "BackoffLimitExceeded") -> JobObservation {
        var o = JobObservation(failed: true, failureReason: reason, failureMessage: "Job has reached the specified backoff limit",
                               terminations: launcher.map { [$0] } ?? [])
        o.launcherPod = "t-1-launcher-abcde"
        o.failedWorkers = workers
        return o
    }

    @Test func aWorkerOOMKilledIsTheCause() throws {
        let o = try #require(TrainingOutcome.classify(observation(
            launcher: ContainerTermination(exitCode: 137, reason: "Error", message: "mpirun noticed that process rank 1 ... exited on signal 9"),
            workers: [WorkerFailure(pod: "t-1-worker-0", exitCode: 1, reason: "Error"),
                      WorkerFailure(pod: "t-1-worker-1", exitCode: 137, reason: "OOMKilled")])))
        #expect(o.reason == "WorkerOOMKilled" && o.message.hasPrefix("worker t-1-worker-1 OOMKilled (exit 137)"), "\(o)")
    }

    @Test func theDeadlineBeatsAWorkerKilledByTheCleanUp() throws {
        let o = try #require(TrainingOutcome.classify(observation(launcher: nil, workers: [WorkerFailure(pod: "t-1-worker-0", exitCode: 137, reason: "Error")],
                                                                  reason: "DeadlineExceeded")))
        #expect(o.reason == "DeadlineExceeded", "\(o)")
    }

    @Test func evictedAndFailedWorkersAndTheLauncher() throws {
        let evicted = try #require(TrainingOutcome.classify(observation(
            launcher: ContainerTermination(exitCode: 1), workers: [WorkerFailure(pod: "t-1-worker-0", reason: "Evicted", message: "low on memory")])))
        #expect(evicted.reason == "WorkerEvicted" && evicted.message == "worker t-1-worker-0 Evicted: low on memory", "\(evicted)")
        let launcher = try #require(TrainingOutcome.classify(observation(launcher: ContainerTermination(exitCode: 1, message: "ORTE failed"), workers: [])))
        #expect(launcher.reason == "LauncherFailed" && launcher.message.contains("launcher t-1-launcher-abcde failed (exit 1)")
                && launcher.message.contains("ORTE failed"), "\(launcher)")
        // A rank's bad input (exit 2) passes through mpirun and keeps its meaning.
        let bad = try #require(TrainingOutcome.classify(observation(launcher: ContainerTermination(exitCode: 2, message: "rank 1: cannot read"), workers: [])))
        #expect(bad.result == .invalidInput && bad.reason == "BadInput", "\(bad)")
    }
}
