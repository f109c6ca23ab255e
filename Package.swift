// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "bc-train",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "bc-train", targets: ["bc-train"]),
        .executable(name: "bc-eval", targets: ["bc-eval"]),
        .executable(name: "bc-predict", targets: ["bc-predict"]),
        .executable(name: "bc-bench", targets: ["bc-bench"]),
        .executable(name: "bc-bench-images", targets: ["bc-bench-images"]),
        .executable(name: "bc-data", targets: ["bc-data"]),
        .executable(name: "bc-inspect", targets: ["bc-inspect"]),
        .executable(name: "bc-serve", targets: ["bc-serve"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.0.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.65.0"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.0.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.0.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.5.0"),
        .package(url: "https://github.com/weichsel/ZIPFoundation", from: "0.9.19"),
    ],
    targets: [
        // System libraries: a module map and a shim that re-exports the macros Swift cannot import.
        .systemLibrary(name: "CMPI", pkgConfig: "ompi-c", providers: [.apt(["libopenmpi-dev", "openmpi-bin"])]),
        .systemLibrary(name: "CHDF5", pkgConfig: "hdf5", providers: [.apt(["libhdf5-dev"])]),
        .systemLibrary(name: "CPNG", pkgConfig: "libpng16", providers: [.apt(["libpng-dev"])]),
        .systemLibrary(name: "CDNNL", providers: [.apt(["libdnnl-dev"])]),
        // C that Swift cannot express: signal handlers that only set a flag.
        .target(name: "CSupport", dependencies: ["CPNG"]),
        .target(name: "CKernels"),
        // What a binary is and runs on (--version): its git commit, written by the GitCommit plugin at build time.
        .plugin(name: "GitCommit", capability: .buildTool()),
        .target(name: "BuildInfo", dependencies: ["CDNNL", "CHDF5", "CMPI", "CPNG", "OneDNN"], plugins: ["GitCommit"]),

        .target(name: "Tensors", dependencies: ["CKernels"]),
        .target(name: "OneDNN", dependencies: ["Tensors", "CDNNL"]),
        .target(name: "Layers", dependencies: ["Tensors", "CKernels"]),
        .target(name: "Evaluation"),
        .target(name: "Images", dependencies: ["Tensors", "CSupport"]),
        .target(name: "Datasets", dependencies: ["Images", "Tensors"]),
        .target(name: "Models", dependencies: ["Layers"]),
        .target(name: "KerasHDF5", dependencies: ["Models", "Layers", "CHDF5"]),
        .target(name: "Serving", dependencies: ["KerasHDF5", "Layers", "OneDNN", "Images", "Datasets", "Evaluation"]),
        .target(name: "WebService", dependencies: [
            "Serving", "Datasets", "Images", .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "HummingbirdTLS", package: "hummingbird"),
            .product(name: "ZIPFoundation", package: "ZIPFoundation"),
            .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            .product(name: "NIOFoundationCompat", package: "swift-nio"), .product(name: "HTTPTypes", package: "swift-http-types"),
        ], resources: [.embedInCode("Resources/index.html"), .embedInCode("Resources/sign-in.html")]),
        .target(name: "Cluster", dependencies: ["Tensors", "CMPI"]),
        .target(name: "Training", dependencies: [
            "Layers", "Cluster", "Evaluation", "Images", "Datasets", "Models", "KerasHDF5", "OneDNN", "CSupport",
        ]),

        .executableTarget(name: "bc-train", dependencies: [
            "BuildInfo", "Training", "OneDNN", "CSupport", .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        .executableTarget(name: "bc-eval", dependencies: [
            "BuildInfo", "Serving", "Images", .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        .executableTarget(name: "bc-predict", dependencies: [
            "BuildInfo", "Serving", "Images", .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        .executableTarget(name: "bc-bench", dependencies: [
            "BuildInfo", "Cluster", "Layers", "Models", "OneDNN", .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        .executableTarget(name: "bc-bench-images", dependencies: [
            "BuildInfo", "Images", .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        .executableTarget(name: "bc-data", dependencies: [
            "BuildInfo", "Datasets", "Images", .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        .executableTarget(name: "bc-inspect", dependencies: [
            "BuildInfo", "KerasHDF5", .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        .executableTarget(name: "bc-serve", dependencies: [
            "BuildInfo", "WebService", .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),

        // What several test targets share: .npy files, the Python referee, temporary folders, tensor comparison, Keras' tiny model.
        .target(name: "TestSupport", dependencies: ["Tensors", "Layers"], path: "Tests/TestSupport"),
        .testTarget(name: "SystemLibrariesTests", dependencies: ["CMPI", "CHDF5", "CPNG", "CDNNL", "CSupport"]),
        .testTarget(name: "TensorsTests", dependencies: ["Tensors"]),
        .testTarget(name: "OneDNNTests", dependencies: ["OneDNN", "Tensors"]),
        .testTarget(name: "LayersTests", dependencies: ["TestSupport", "Layers", "OneDNN", "Tensors", "CHDF5"]),
        .testTarget(name: "EvaluationTests", dependencies: ["TestSupport", "Evaluation"]),
        .testTarget(name: "ImagesTests", dependencies: ["Images"]),
        .testTarget(name: "DatasetsTests", dependencies: ["Datasets", "Images"]),
        .testTarget(name: "ModelsTests", dependencies: ["TestSupport", "Models", "OneDNN"]),
        .testTarget(name: "KerasHDF5Tests", dependencies: ["TestSupport", "KerasHDF5", "Models", "OneDNN"]),
        .testTarget(name: "WebServiceTests", dependencies: ["TestSupport",
            "WebService", "Serving", "KerasHDF5", "Layers", "Images", "Datasets", .product(name: "ZIPFoundation", package: "ZIPFoundation"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"), .product(name: "Logging", package: "swift-log"),
        ]),
        .testTarget(name: "TrainingTests", dependencies: ["TestSupport", "Training", "OneDNN", "KerasHDF5", "Datasets", "Models"]),
        .testTarget(name: "ServingTests", dependencies: ["TestSupport", "Serving", "Layers", "Models", "KerasHDF5", "OneDNN", "Images", "Tensors"]),
    ],
    swiftLanguageModes: [.v5]
)
