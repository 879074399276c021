// swift-tools-version:6.0
import PackageDescription

/// Kiln: tensors, autograd and neural networks in Swift, on NVIDIA GPUs and a pure-Swift CPU backend.
///
/// Module graph (arrows point at dependencies):
///
///     KilnCore  <-  KilnCPU   <-  Kiln  <-  KilnNN  <-  KilnCheck  <-  KilnCLI  <-  kiln
///               <-  KilnCUDA  <-´              (CZlib: the system zlib, for gzip-compressed data)
///                   (CSIMD, under KilnCPU: inline multiply-adds the compiler may fuse, widening, lane sums)
///                   (CCUDA: the driver and cuBLAS, opened at run time; the kernels' embedded PTX)
///
/// `KilnCore` holds what every backend implements against: dtypes, layouts, the `Backend` protocol and its op
/// vocabulary, and the Philox random stream. Backends (`KilnCPU`, `KilnCUDA`) never see a `Tensor`; `Kiln` holds
/// `Tensor`, the op front-end, autograd and device discovery, so it can pick a default device from every backend
/// it links. `CCUDA` needs no CUDA to build: without the headers it reports "CUDA support not built" at run time.
let package = Package(
    name: "Kiln",
    products: [
        .library(name: "Kiln", targets: ["Kiln"]),
        .library(name: "KilnCore", targets: ["KilnCore"]),
        .library(name: "KilnCPU", targets: ["KilnCPU"]),
        .library(name: "KilnCUDA", targets: ["KilnCUDA"]),
        .library(name: "KilnCheck", targets: ["KilnCheck"]),
        .library(name: "KilnCLI", targets: ["KilnCLI"]),
        .library(name: "KilnNN", targets: ["KilnNN"]),
        .executable(name: "kiln", targets: ["kiln"]),
    ],
    targets: [
        .target(name: "KilnCore"),
        .target(name: "CSIMD"),
        .target(name: "KilnCPU", dependencies: ["KilnCore", "CSIMD"]),
        .target(name: "CCUDA", linkerSettings: [.linkedLibrary("dl")]),
        .target(name: "KilnCUDA", dependencies: ["KilnCore", "CCUDA"]),
        .target(name: "Kiln", dependencies: ["KilnCore", "KilnCPU", "KilnCUDA"]),
        .target(name: "KilnCheck", dependencies: ["Kiln", "KilnNN"]),
        .systemLibrary(name: "CZlib", path: "Sources/CZlib", providers: [.apt(["zlib1g-dev"])]),
        .target(name: "KilnNN", dependencies: ["Kiln", "CZlib"]),
        .target(name: "KilnCLI", dependencies: ["Kiln", "KilnCPU", "KilnCUDA", "KilnNN", "KilnCheck"]),
        .executableTarget(name: "kiln", dependencies: ["KilnCLI"]),
        .testTarget(name: "KilnTests", dependencies: ["Kiln", "KilnCPU", "KilnCUDA", "KilnCore", "KilnCheck", "KilnNN", "KilnCLI"]),
    ]
)
