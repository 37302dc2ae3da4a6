import Foundation
import SextantJSON
import Testing

@testable import SextantDevServer

/// The defaults kube-apiserver fills into built-in kinds, read back by the real `kubectl` after it
/// created the objects (protobuf bodies, as kubectl sends built-in kinds). The expected values are
/// Kubernetes' documented defaults (`SetDefaults_*` of core/v1, apps/v1, batch/v1).
@Suite(.serialized) struct BuiltinDefaultsTests {
    typealias Kubectl = KubectlTests.Kubectl

    func object(_ kubectl: Kubectl, _ args: String...) async throws -> JSONValue {
        let result = try await run(kubectl.tool, kubectl.baseArguments + args + ["-o", "json"])
        #expect(result.status == 0, "kubectl \(args.joined(separator: " ")) -o json failed: \(result.stderr)")
        return try JSONValue.decode(Data(result.stdout.utf8))
    }

    @Test func kubectlCreatedWorkloadsReadBackWithKubernetesDefaults() async throws {
        guard let tool = requireTool("kubectl") else { return }
        let env = try await RunningServer.start()
        let kubectl = Kubectl(tool: tool, env: env)
        do {
            try await kubectl("create", "deployment", "web", "--image=nginx")
            let deployment = try await object(kubectl, "get", "deployment", "web")
            #expect(deployment[path: ["spec", "replicas"]] == 1)
            #expect(deployment[path: ["spec", "strategy"]] == ["type": "RollingUpdate", "rollingUpdate": ["maxUnavailable": "25%", "maxSurge": "25%"]])
            #expect(deployment[path: ["spec", "revisionHistoryLimit"]] == 10)
            #expect(deployment[path: ["spec", "progressDeadlineSeconds"]] == 600)
            let podSpec = deployment[path: ["spec", "template", "spec"]] ?? [:]
            #expect(podSpec["restartPolicy"] == "Always")
            #expect(podSpec["dnsPolicy"] == "ClusterFirst")
            #expect(podSpec["terminationGracePeriodSeconds"] == 30)
            #expect(podSpec["schedulerName"] == "default-scheduler")
            #expect(podSpec["securityContext"] == [:])
            #expect(podSpec["enableServiceLinks"] == nil, "enableServiceLinks is a Pod default, not a template's")
            let container = podSpec["containers"]?[0] ?? [:]
            #expect(container["imagePullPolicy"] == "Always", "an image without a tag is pulled always")
            #expect(container["terminationMessagePath"] == "/dev/termination-log")
            #expect(container["terminationMessagePolicy"] == "File")
            #expect(deployment["status"] == [:])

            try await kubectl("create", "job", "once", "--image=busybox:1.36")
            let job = try await object(kubectl, "get", "job", "once")
            let uid = job[path: ["metadata", "uid"]]?.stringValue ?? "?"
            #expect(job[path: ["spec", "completions"]] == 1 && job[path: ["spec", "parallelism"]] == 1)
            #expect(job[path: ["spec", "backoffLimit"]] == 6)
            #expect(job[path: ["spec", "completionMode"]] == "NonIndexed")
            #expect(job[path: ["spec", "suspend"]] == false)
            #expect(job[path: ["spec", "podReplacementPolicy"]] == "TerminatingOrFailed")
            #expect(job[path: ["spec", "selector", "matchLabels", "batch.kubernetes.io/controller-uid"]]?.stringValue == uid)
            let labels = job[path: ["spec", "template", "metadata", "labels"]] ?? [:]
            #expect(labels["batch.kubernetes.io/job-name"] == "once" && labels["controller-uid"]?.stringValue == uid)
            #expect(job[path: ["spec", "template", "spec", "restartPolicy"]] == "Never", "kubectl's value is kept")
            #expect(job[path: ["spec", "template", "spec"]]?["containers"]?[0]?["imagePullPolicy"] == "IfNotPresent")

            try await kubectl("run", "solo", "--image=nginx:latest", "--restart=Never", "--port=8080")
            let pod = try await object(kubectl, "get", "pod", "solo")
            #expect(pod[path: ["spec", "restartPolicy"]] == "Never")
            #expect(pod[path: ["spec", "enableServiceLinks"]] == true)
            #expect(pod[path: ["spec"]]?["containers"]?[0]?["imagePullPolicy"] == "Always", "tag latest is pulled always")
            #expect(pod[path: ["spec"]]?["containers"]?[0]?["ports"]?[0]?["protocol"] == "TCP")
            #expect(pod[path: ["status", "qosClass"]] == "BestEffort")
            #expect(pod[path: ["status", "phase"]] == "Pending")

            try await kubectl("create", "cronjob", "nightly", "--image=busybox:1.36", "--schedule=0 3 * * *")
            let cronJob = try await object(kubectl, "get", "cronjob", "nightly")
            #expect(cronJob[path: ["spec", "concurrencyPolicy"]] == "Allow")
            #expect(cronJob[path: ["spec", "successfulJobsHistoryLimit"]] == 3)
            #expect(cronJob[path: ["spec", "failedJobsHistoryLimit"]] == 1)
            #expect(cronJob[path: ["spec", "jobTemplate", "spec", "template", "spec", "dnsPolicy"]] == "ClusterFirst")
            #expect(cronJob[path: ["spec", "jobTemplate", "spec", "backoffLimit"]] == nil, "SetDefaults_Job is for Jobs, not templates")
        }
        await env.stop()
    }

    @Test func explicitValuesStayAndUpdatesAreDefaultedAgain() async throws {
        guard let tool = requireTool("kubectl") else { return }
        let env = try await RunningServer.start()
        let kubectl = Kubectl(tool: tool, env: env)
        do {
            let manifest = """
            apiVersion: apps/v1
            kind: Deployment
            metadata: {name: api}
            spec:
              replicas: 0
              strategy: {type: Recreate}
              selector: {matchLabels: {app: api}}
              template:
                metadata: {labels: {app: api}}
                spec:
                  dnsPolicy: Default
                  containers:
                  - name: api
                    image: registry.local:5000/api@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
                    resources: {limits: {cpu: "1", memory: 1Gi}}
                    readinessProbe: {httpGet: {port: 8080}}
                  volumes:
                  - name: config
                    configMap: {name: api}
                  - name: scratch
            """
            try await kubectl("apply", "-f", "-", stdin: manifest)
            var deployment = try await object(kubectl, "get", "deployment", "api")
            #expect(deployment[path: ["spec", "replicas"]] == 0, "an explicit zero is kept")
            #expect(deployment[path: ["spec", "strategy"]] == ["type": "Recreate"], "Recreate gets no rollingUpdate")
            let spec = deployment[path: ["spec", "template", "spec"]] ?? [:]
            #expect(spec["dnsPolicy"] == "Default")
            let container = spec["containers"]?[0] ?? [:]
            #expect(container["imagePullPolicy"] == "IfNotPresent", "a digest is never pulled again")
            #expect(container["readinessProbe"] == ["httpGet": ["port": 8080, "path": "/", "scheme": "HTTP"], "timeoutSeconds": 1,
                                                    "periodSeconds": 10, "successThreshold": 1, "failureThreshold": 3])
            #expect(container[path: ["resources", "requests"]] == nil, "requests from limits is a Pod default, not a template's")
            #expect(spec["volumes"]?[0]?["configMap"] == ["name": "api", "defaultMode": 420])
            #expect(spec["volumes"]?[1]?["emptyDir"] == [:], "a volume without a source is an emptyDir")

            // An update without the defaulted fields gets them again, as a real server defaults every write.
            try await kubectl("replace", "-f", "-", stdin: manifest.replacingOccurrences(of: "replicas: 0", with: "replicas: 2"))
            deployment = try await object(kubectl, "get", "deployment", "api")
            #expect(deployment[path: ["spec", "replicas"]] == 2)
            #expect(deployment[path: ["spec", "revisionHistoryLimit"]] == 10)
            #expect(deployment[path: ["spec", "template", "spec", "terminationGracePeriodSeconds"]] == 30)

            try await kubectl("apply", "-f", "-", stdin: """
            apiVersion: v1
            kind: Pod
            metadata: {name: sized}
            spec:
              containers:
              - {name: a, image: "busybox:1.36", resources: {limits: {cpu: 500m, memory: 64Mi}}}
            """)
            let pod = try await object(kubectl, "get", "pod", "sized")
            #expect(pod[path: ["spec"]]?["containers"]?[0]?[path: ["resources", "requests"]] == ["cpu": "500m", "memory": "64Mi"])
            #expect(pod[path: ["status", "qosClass"]] == "Guaranteed")
        }
        await env.stop()
    }

    @Test func theOtherKindsInTheDocsTable() async throws {
        guard let tool = requireTool("kubectl") else { return }
        let env = try await RunningServer.start()
        let kubectl = Kubectl(tool: tool, env: env)
        do {
            let template = """
                template:
                    metadata: {labels: {app: x}}
                    spec:
                      containers:
                      - name: x
                        image: x:1
                        env: [{name: NODE, valueFrom: {fieldRef: {fieldPath: spec.nodeName}}}]
                      volumes:
                      - {name: host, hostPath: {path: /tmp}}
                      - {name: token, secret: {secretName: t}}
                """
            try await kubectl("apply", "-f", "-", stdin: """
            apiVersion: apps/v1
            kind: StatefulSet
            metadata: {name: db}
            spec:
              serviceName: db
              selector: {matchLabels: {app: x}}
              \(template)
            ---
            apiVersion: apps/v1
            kind: DaemonSet
            metadata: {name: agent}
            spec:
              selector: {matchLabels: {app: x}}
              \(template)
            ---
            apiVersion: apps/v1
            kind: ReplicaSet
            metadata: {name: rs}
            spec:
              selector: {matchLabels: {app: x}}
              \(template)
            ---
            apiVersion: v1
            kind: ReplicationController
            metadata: {name: rc}
            spec:
              \(template)
            ---
            apiVersion: v1
            kind: PersistentVolumeClaim
            metadata: {name: data}
            spec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 1Gi}}}
            ---
            apiVersion: rbac.authorization.k8s.io/v1
            kind: RoleBinding
            metadata: {name: readers}
            roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: reader}
            subjects:
            - {kind: User, name: alice}
            - {kind: ServiceAccount, name: robot, namespace: default}
            """)
            let statefulSet = try await object(kubectl, "get", "statefulset", "db")
            #expect(statefulSet[path: ["spec", "podManagementPolicy"]] == "OrderedReady")
            #expect(statefulSet[path: ["spec", "updateStrategy"]] == ["type": "RollingUpdate", "rollingUpdate": ["partition": 0]])
            #expect(statefulSet[path: ["spec", "persistentVolumeClaimRetentionPolicy"]] == ["whenDeleted": "Retain", "whenScaled": "Retain"])
            #expect(statefulSet[path: ["spec", "replicas"]] == 1 && statefulSet[path: ["spec", "revisionHistoryLimit"]] == 10)
            let podSpec = statefulSet[path: ["spec", "template", "spec"]] ?? [:]
            #expect(podSpec["containers"]?[0]?["env"]?[0]?[path: ["valueFrom", "fieldRef", "apiVersion"]] == "v1")
            #expect(podSpec["volumes"]?[0]?["hostPath"] == ["path": "/tmp", "type": ""])
            #expect(podSpec["volumes"]?[1]?["secret"] == ["secretName": "t", "defaultMode": 420])
            let daemonSet = try await object(kubectl, "get", "daemonset", "agent")
            #expect(daemonSet[path: ["spec", "updateStrategy"]] == ["type": "RollingUpdate", "rollingUpdate": ["maxUnavailable": 1, "maxSurge": 0]])
            #expect(daemonSet[path: ["status", "desiredNumberScheduled"]] == 0)
            #expect(try await object(kubectl, "get", "replicaset", "rs")[path: ["spec", "replicas"]] == 1)
            let controller = try await object(kubectl, "get", "replicationcontroller", "rc")
            #expect(controller[path: ["spec", "replicas"]] == 1 && controller[path: ["spec", "selector"]] == ["app": "x"])
            let claim = try await object(kubectl, "get", "pvc", "data")
            #expect(claim[path: ["spec", "volumeMode"]] == "Filesystem" && claim[path: ["status", "phase"]] == "Pending")
            let binding = try await object(kubectl, "get", "rolebinding", "readers")
            #expect(binding["subjects"]?[0]?["apiGroup"] == "rbac.authorization.k8s.io")
            #expect(binding["subjects"]?[1]?["apiGroup"] == "")
        }
        await env.stop()
    }

    @Test(arguments: [
        ("nginx", "Always"), ("nginx:latest", "Always"), ("nginx:1.27", "IfNotPresent"),
        ("localhost:5000/team/model", "Always"), ("localhost:5000/team/model:v2", "IfNotPresent"),
        ("ghcr.io/x/y@sha256:abc", "IfNotPresent"), ("ghcr.io/x/y:latest@sha256:abc", "IfNotPresent"),
    ])
    func imagePullPolicyFollowsTheTag(image: String, expected: String) {
        #expect(BuiltinDefaults.pullPolicy(image: image) == expected)
    }

    @Test func qosClassFollowsRequestsAndLimits() {
        func spec(_ resources: JSONValue...) -> JSONValue {
            ["containers": .array(resources.map { ["name": "c", "image": "i", "resources": $0] })]
        }
        #expect(BuiltinDefaults.qosClass(spec([:])) == "BestEffort")
        #expect(BuiltinDefaults.qosClass(spec(["requests": ["cpu": "1"]])) == "Burstable")
        #expect(BuiltinDefaults.qosClass(spec(["limits": ["cpu": "1", "memory": "1Gi"]])) == "Guaranteed")
        #expect(BuiltinDefaults.qosClass(spec(["limits": ["cpu": "1", "memory": "1Gi"], "requests": ["cpu": "500m"]])) == "Burstable")
        #expect(BuiltinDefaults.qosClass(spec(["limits": ["cpu": "1", "memory": "1Gi"]], [:])) == "Burstable")
    }
}
