// swift-tools-version:5.7
// SegFace for iOS: the Swift wrapper over the C ABI, linked against SegFaceFFI.xcframework
// (build it first with ./build-xcframework.sh).
import PackageDescription

let package = Package(
    name: "SegFace",
    platforms: [.iOS(.v13), .macOS(.v11)],
    products: [
        .library(name: "SegFace", targets: ["SegFace"]),
    ],
    targets: [
        .binaryTarget(name: "SegFaceFFI", path: "build/SegFaceFFI.xcframework"),
        .target(name: "SegFace", dependencies: ["SegFaceFFI"]),
    ]
)
