// swift-tools-version:6.1
// Sextant: a Kubernetes operator and rollout controller for machine learning.
// Layers (dependencies point down only), see docs/architecture.md:
//   1 Transport   CCurl, SextantTransport, SextantPrometheus
//   2 Kubernetes  SextantJSON, SextantKubeTypes, SextantKube
//   3 Runtime     SextantOperator
//   4 Domain      SextantAPI (types, CRDs), SextantDomain (pure decisions)
//   5 Controllers SextantControllers
//   6 ML          SextantML (trainer), SextantMPI (its Open MPI collective), SextantServing (model server)
//   7 Executables sextant, sextant-controller, sextant-trainer, sextant-server
//   Test env      SextantDevServer (development API server + local node), never in production
//   Everywhere    SextantVersion (release number); SextantRevision (the git revision stamped by
//                 SextantRevisionPlugin: only the CLI and the executables, so a commit recompiles nothing below)
//   Contract      SextantTrainingContract (hyperparameters, objectives, gates, result summary as data;
//                 no dependencies, so both SextantAPI and SextantML derive from it)
import PackageDescription

let strict: [SwiftSetting] = [.swiftLanguageMode(.v6)]
// Long-running programs that allocate many small objects on several threads (decoded watch events,
// HTTP requests) use mimalloc instead of glibc's malloc: glibc's arena locks made frees of objects
// allocated on another thread wait, and the watch decode rate swing by 2x (docs/benchmarks.md).
// The trainer allocates a few large arrays and keeps glibc.
let fastAllocator: [LinkerSetting] = [.linkedLibrary("mimalloc", .when(platforms: [.linux]))]

let log = Target.Dependency.product(name: "Logging", package: "swift-log")
let metrics = Target.Dependency.product(name: "Metrics", package: "swift-metrics")
let yams = Target.Dependency.product(name: "Yams", package: "Yams")
let argumentParser = Target.Dependency.product(name: "ArgumentParser", package: "swift-argument-parser")
let hummingbird = Target.Dependency.product(name: "Hummingbird", package: "hummingbird")
let lifecycle = Target.Dependency.product(name: "ServiceLifecycle", package: "swift-service-lifecycle")
let prometheus = Target.Dependency.product(name: "Prometheus", package: "swift-prometheus")
// HTTPS for the controller's /metrics (controller-runtime's secure serving): swift-nio-ssl, and
// swift-certificates/swift-crypto for the self-signed certificate. The gRPC transport already
// builds all three, so they add no build time.
let hummingbirdTLS = Target.Dependency.product(name: "HummingbirdTLS", package: "hummingbird")
let hummingbirdCore = Target.Dependency.product(name: "HummingbirdCore", package: "hummingbird")
let nioSSL = Target.Dependency.product(name: "NIOSSL", package: "swift-nio-ssl")
let x509 = Target.Dependency.product(name: "X509", package: "swift-certificates")
let crypto = Target.Dependency.product(name: "Crypto", package: "swift-crypto")
// gRPC for the model server's Open Inference Protocol service (Sources/SextantServingGRPC). Its
// Swift code is generated once by hack/generate-grpc.sh and committed: the protoc build plugin
// would add ~10 minutes to every clean build.
let grpcCore = Target.Dependency.product(name: "GRPCCore", package: "grpc-swift-2")
let grpcTransport = Target.Dependency.product(name: "GRPCNIOTransportHTTP2Posix", package: "grpc-swift-nio-transport")
let grpcProtobuf = Target.Dependency.product(name: "GRPCProtobuf", package: "grpc-swift-protobuf")
let swiftProtobuf = Target.Dependency.product(name: "SwiftProtobuf", package: "swift-protobuf")

let package = Package(
    name: "sextant",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "sextant", targets: ["sextant"]),
        .executable(name: "sextant-controller", targets: ["sextant-controller"]),
        .executable(name: "sextant-trainer", targets: ["sextant-trainer"]),
        .executable(name: "sextant-server", targets: ["sextant-server"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.5.0"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.0.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.0.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.0.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.0.0"),
        .package(url: "https://github.com/grpc/grpc-swift-2", from: "2.4.3"),
        .package(url: "https://github.com/grpc/grpc-swift-nio-transport", from: "2.9.2"),
        .package(url: "https://github.com/grpc/grpc-swift-protobuf", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-protobuf", from: "1.39.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.0"),
        .package(url: "https://github.com/apple/swift-certificates", from: "1.21.0"),
        .package(url: "https://github.com/apple/swift-crypto", "3.12.0"..<"5.0.0"),
    ],
    targets: [
        // MARK: Version (every binary's --version; the plugin writes the git revision at build time)
        .plugin(name: "SextantRevisionPlugin", capability: .buildTool(), path: "Sources/SextantRevisionPlugin"),
        .target(name: "SextantVersion", swiftSettings: strict),
        .target(name: "SextantRevision", dependencies: ["SextantVersion"], swiftSettings: strict, plugins: ["SextantRevisionPlugin"]),
        // MARK: Training contract (what a TrainingJob may ask of sextant-trainer; docs/trainer.md "Training contract")
        .target(name: "SextantTrainingContract", swiftSettings: strict),

        // MARK: 1 Transport
        .systemLibrary(name: "CCurl", pkgConfig: "libcurl",
                       providers: [.apt(["libcurl4-openssl-dev"])]),
        .systemLibrary(name: "CCrypto", pkgConfig: "libcrypto",
                       providers: [.apt(["libssl-dev"])]),
        // libssl for the development API server's TLS (instead of swift-nio-ssl's BoringSSL build).
        .systemLibrary(name: "COpenSSL", pkgConfig: "libssl", providers: [.apt(["libssl-dev"])]),
        .target(name: "SextantTransport", dependencies: ["CCurl", log, metrics], swiftSettings: strict),
        .target(name: "SextantPrometheus", dependencies: ["SextantTransport", "SextantJSON"], swiftSettings: strict),

        // MARK: 2 Kubernetes
        .target(name: "SextantJSON", swiftSettings: strict),
        .target(name: "SextantKubeTypes", dependencies: ["SextantJSON"], swiftSettings: strict),
        .target(name: "SextantKube",
                dependencies: ["SextantTransport", "SextantJSON", "SextantKubeTypes", yams, log, metrics],
                swiftSettings: strict),

        // MARK: 3 Operator runtime
        .target(name: "SextantOperator",
                dependencies: ["SextantKube", log, metrics, prometheus, lifecycle, hummingbird, hummingbirdCore, hummingbirdTLS, nioSSL, x509, crypto],
                swiftSettings: strict),

        // MARK: 4 Domain
        .target(name: "SextantAPI", dependencies: ["SextantKubeTypes", "SextantJSON", "SextantTrainingContract", yams], swiftSettings: strict),
        .target(name: "SextantDomain", dependencies: ["SextantAPI", "SextantJSON", "SextantKubeTypes"], swiftSettings: strict),

        // MARK: 5 Controllers
        .target(name: "SextantControllers",
                dependencies: ["SextantOperator", "SextantDomain", "SextantAPI", "SextantPrometheus", "SextantKube",
                               "SextantTransport", "SextantJSON", "SextantKubeTypes", log, metrics],
                swiftSettings: strict),

        // MARK: 6 ML
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        // Parquet page codecs (Sources/SextantML/Parquet/ParquetCodecs.swift): Debian's libraries, not our own.
        .systemLibrary(name: "CSnappy", pkgConfig: "snappy", providers: [.apt(["libsnappy-dev"])]),
        .systemLibrary(name: "CZstd", pkgConfig: "libzstd", providers: [.apt(["libzstd-dev"])]),
        .systemLibrary(name: "CLZ4", pkgConfig: "liblz4", providers: [.apt(["liblz4-dev"])]),
        // Data-parallel training (docs/trainer.md "Distributed training"): Debian's Open MPI behind
        // SextantML's `Collective` protocol; only the trainer executable links it.
        .systemLibrary(name: "CMPI", pkgConfig: "ompi-c", providers: [.apt(["libopenmpi-dev"])]),
        // CPU hints for the trainer (prefetch, spin-wait pause): a header only, nothing to link.
        .systemLibrary(name: "CCPUHints"),
        .target(name: "SextantML", dependencies: ["CCrypto", "CZlib", "CSnappy", "CZstd", "CLZ4", "CCPUHints", "SextantTransport", "SextantVersion",
                                            "SextantTrainingContract", yams],
                swiftSettings: strict),
        .target(name: "SextantMPI", dependencies: ["CMPI", "SextantML"], swiftSettings: strict),
        .target(name: "SextantServing", dependencies: ["SextantML", "SextantJSON", hummingbird, metrics, prometheus, log],
                swiftSettings: strict),
        // The Open Inference Protocol over gRPC, in front of SextantServing's one predict path.
        .target(name: "SextantServingGRPC",
                dependencies: ["SextantServing", grpcCore, grpcTransport, grpcProtobuf, swiftProtobuf, lifecycle, log],
                exclude: ["grpc_predict_v2.proto"], swiftSettings: strict),

        // MARK: Test environment (development API server and local node)
        .target(name: "SextantDevServer",
                dependencies: ["SextantJSON", "SextantKubeTypes", "CCrypto", "COpenSSL", hummingbird, lifecycle, yams, log],
                swiftSettings: strict),

        .target(name: "SextantLocalNode",
                dependencies: ["SextantKube", "SextantKubeTypes", "SextantJSON", "SextantDomain", log],
                swiftSettings: strict),

        // MARK: 7 Executables
        // mimalloc's options, for the programs that tune it (fastAllocator links it).
        .systemLibrary(name: "CMimalloc", providers: [.apt(["libmimalloc-dev"])]),
        // The views of `sextant get cro --tree` and `sextant dashboard` (a local web UI on Hummingbird).
        .target(name: "SextantDashboard",
                dependencies: ["SextantKube", "SextantAPI", "SextantDomain", "SextantJSON", "SextantKubeTypes",
                               "SextantPrometheus", hummingbird, log],
                swiftSettings: strict),
        .target(name: "SextantCLI",
                dependencies: ["SextantKube", "SextantAPI", "SextantDevServer", "SextantLocalNode", "SextantRevision",
                               "SextantDashboard", "SextantPrometheus", argumentParser, yams, log],
                swiftSettings: strict),
        .executableTarget(name: "sextant", dependencies: ["SextantCLI", argumentParser], swiftSettings: strict,
                          linkerSettings: fastAllocator),
        .executableTarget(name: "sextant-controller",
                          dependencies: ["SextantControllers", "SextantOperator", "SextantKube", "SextantAPI",
                                         "CMimalloc", "SextantRevision", argumentParser, lifecycle, log],
                          swiftSettings: strict, linkerSettings: fastAllocator),
        .executableTarget(name: "sextant-trainer", dependencies: ["SextantML", "SextantMPI", "SextantRevision", argumentParser],
                          swiftSettings: strict),
        .executableTarget(name: "sextant-server",
                          dependencies: ["SextantServing", "SextantServingGRPC", "SextantRevision", argumentParser, lifecycle, log],
                          swiftSettings: strict,
                          linkerSettings: fastAllocator),

        // MARK: Benchmarks (run with hack/bench/*.sh)
        .executableTarget(name: "bench-operator",
                          dependencies: ["SextantOperator", "SextantKube", "SextantKubeTypes", "SextantDevServer", "CMimalloc"],
                          path: "Benchmarks/Operator", swiftSettings: strict, linkerSettings: fastAllocator),
        .executableTarget(name: "bench-apiserver", dependencies: ["SextantDevServer", "SextantJSON", "COpenSSL"],
                          path: "Benchmarks/ApiServer", swiftSettings: strict, linkerSettings: fastAllocator),
        .executableTarget(name: "bench-watch-decode", dependencies: ["SextantKube", "SextantTransport", "CMimalloc"],
                          path: "Benchmarks/WatchDecode", swiftSettings: strict, linkerSettings: fastAllocator),

        // MARK: Tests
        .testTarget(name: "SextantServingTests",
                    dependencies: ["SextantServing", "SextantServingGRPC", "SextantML", "SextantJSON", "SextantTestSupport", "SextantTransport", log],
                    swiftSettings: strict),
        .testTarget(name: "SextantOperatorTests",
                    dependencies: ["SextantOperator", "SextantKube", "SextantKubeTypes", "SextantDevServer",
                                   "SextantTestSupport", "SextantJSON"],
                    swiftSettings: strict),
        .target(name: "SextantTestSupport", path: "Tests/Support", swiftSettings: strict),
        .testTarget(name: "SextantCLITests",
                    dependencies: ["SextantCLI", "SextantDashboard", "SextantAPI", "SextantDevServer", "SextantKube",
                                   "SextantKubeTypes", "SextantTestSupport", "SextantJSON", "SextantPrometheus", yams],
                    swiftSettings: strict),
        .testTarget(name: "SextantJSONTests", dependencies: ["SextantJSON", "SextantTestSupport"], swiftSettings: strict),
        .testTarget(name: "SextantTransportTests", dependencies: ["SextantTransport", "SextantTestSupport"], swiftSettings: strict),
        .testTarget(name: "SextantKubeTests",
                    dependencies: ["SextantKube", "SextantKubeTypes", "SextantJSON", "SextantTestSupport"],
                    swiftSettings: strict),
        .testTarget(name: "SextantDevServerTests",
                    dependencies: ["SextantDevServer", "SextantJSON", "SextantKubeTypes", "SextantTestSupport"],
                    swiftSettings: strict),
        .testTarget(name: "SextantAPITests", dependencies: ["SextantAPI", "SextantJSON", "SextantML", "SextantDevServer",
                                                          "SextantTrainingContract", yams],
                    swiftSettings: strict),
        .testTarget(name: "SextantMLTests", dependencies: ["SextantML", "SextantTestSupport", "SextantTrainingContract"],
                    swiftSettings: strict),
        .testTarget(name: "SextantPrometheusTests",
                    dependencies: ["SextantPrometheus", "SextantTransport", "SextantTestSupport"], swiftSettings: strict),
        .testTarget(name: "SextantDomainTests", dependencies: ["SextantDomain", "SextantAPI", "SextantJSON", "SextantTestSupport",
                                                             "SextantTrainingContract"],
                    swiftSettings: strict),
        .testTarget(name: "SextantLocalNodeTests",
                    dependencies: ["SextantLocalNode", "SextantDevServer", "SextantKube", "SextantKubeTypes",
                                   "SextantJSON", "SextantTestSupport", "SextantTransport"],
                    swiftSettings: strict),
        .testTarget(name: "SextantControllersTests",
                    dependencies: ["SextantControllers", "SextantOperator", "SextantDomain", "SextantAPI",
                                   "SextantPrometheus", "SextantLocalNode", "SextantDevServer", "SextantKube",
                                   "SextantKubeTypes", "SextantJSON", "SextantTestSupport", "SextantTransport"],
                    swiftSettings: strict),
    ]
)
