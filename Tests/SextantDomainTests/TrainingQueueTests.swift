import SextantDomain
import Testing

@Suite("Kueue queue of a training run")
struct TrainingQueueTests {
    @Test func onlyKueuesLabelsPassThrough() {
        let labels = ["kueue.x-k8s.io/queue-name": "team-a", "kueue.x-k8s.io/priority-class": "low", "app": "x",
                      "kueue.x-k8s.io/other": "y"]
        #expect(TrainingQueue.workloadLabels(labels) == ["kueue.x-k8s.io/queue-name": "team-a", "kueue.x-k8s.io/priority-class": "low"])
        #expect(TrainingQueue.queue(labels: labels) == "team-a")
        #expect(TrainingQueue.queue(labels: ["kueue.x-k8s.io/queue-name": ""]) == nil)
        #expect(TrainingQueue.queue(labels: nil) == nil)
    }

    @Test func resumingAQueuedWorkloadIsKueues() {
        #expect(TrainingQueue.createSuspended(userSuspended: false, queue: "q"))
        #expect(!TrainingQueue.createSuspended(userSuspended: false, queue: nil))
        // Without a queue the workload follows runPolicy.suspend both ways.
        #expect(TrainingQueue.suspendPatch(userSuspended: false, queue: nil, workloadSuspended: true) == false)
        #expect(TrainingQueue.suspendPatch(userSuspended: true, queue: nil, workloadSuspended: false) == true)
        // With one, Sextant only suspends; it never admits.
        #expect(TrainingQueue.suspendPatch(userSuspended: false, queue: "q", workloadSuspended: true) == nil)
        #expect(TrainingQueue.suspendPatch(userSuspended: true, queue: "q", workloadSuspended: false) == true)
        #expect(TrainingQueue.suspendPatch(userSuspended: false, queue: "q", workloadSuspended: false) == nil)
    }

    @Test func aSuspendedQueuedRunWaitsNamingTheQueue() {
        let w = TrainingQueue.waiting(queue: "team-a", userSuspended: false, workloadSuspended: true, kind: "Job", name: "tj-1")
        #expect(w?.reason == "AwaitingAdmission" && w?.message.contains("team-a") == true && w?.message.contains("Job tj-1") == true)
        #expect(TrainingQueue.waiting(queue: "team-a", userSuspended: false, workloadSuspended: false, kind: "Job", name: "tj-1") == nil)
        #expect(TrainingQueue.waiting(queue: "team-a", userSuspended: true, workloadSuspended: true, kind: "Job", name: "tj-1") == nil)
        #expect(TrainingQueue.waiting(queue: nil, userSuspended: false, workloadSuspended: true, kind: "Job", name: "tj-1") == nil)
    }
}
