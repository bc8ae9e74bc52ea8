// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "metastable",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "metastable", targets: ["metastable"]),
        .library(name: "Metastable", targets: ["Metastable"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/jpsim/Yams", from: "5.0.1"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
    ],
    targets: [
        // Tiny C helpers the walk kernel inlines: prefetch, an optimisation barrier for
        // branchless selects, aligned huge-page allocation.
        .target(name: "CMetastableSupport"),
        // The lane kernel: hitting-time walks 8 per AVX-512 vector, chosen at run time.
        .target(name: "CWalkLanes"),
        // The science: chains, randomness, walks, statistics, exact solves, experiments.
        .target(
            name: "Metastable",
            dependencies: ["CMetastableSupport", "CWalkLanes", .product(name: "Yams", package: "Yams")]
        ),
        // libzmq from the system (Debian: libzmq3-dev); headers in /usr/include.
        .systemLibrary(name: "CZeroMQ", path: "Sources/CZeroMQ"),
        // protoc-c output for proto/metastable.proto, committed; scripts/gen-proto.sh makes it.
        .target(
            name: "MetastableWire",
            linkerSettings: [.linkedLibrary("protobuf-c")]
        ),
        // ZeroMQ sockets and the wire codec; the coordinator and worker will live here too.
        .target(
            name: "MetastableCluster",
            dependencies: ["Metastable", "MetastableWire", "CZeroMQ", .product(name: "Logging", package: "swift-log")]
        ),
        .executableTarget(
            name: "metastable",
            dependencies: [
                "Metastable", "MetastableCluster",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(name: "MetastableTests", dependencies: ["Metastable"]),
        .testTarget(name: "MetastableClusterTests", dependencies: ["MetastableCluster"]),
    ]
)
