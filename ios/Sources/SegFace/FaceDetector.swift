// The RetinaFace face detector over the C ABI.
import Foundation
import SegFaceFFI
#if canImport(CoreVideo)
import CoreVideo
#endif

/// Finds faces (boxes, scores, 5 landmarks) in camera frames. Immutable: may be shared between
/// threads.
public final class FaceDetector {
    private(set) var handle: OpaquePointer?

    /// Loads `retinaface_mnet.onnx` for a square input of `inputSize` pixels (a multiple of 32;
    /// 0 for 640). Frames are letterboxed into it: smaller is faster and misses small faces.
    public init(path: String, inputSize: Int = 0) throws {
        guard inputSize >= 0, inputSize <= Int(UInt32.max) else {
            throw SegFaceError(status: Int32(SEGFACE_STATUS_ERR_INVALID_ARGUMENT.rawValue),
                               message: "bad input size \(inputSize)")
        }
        var raw: OpaquePointer?
        try SegFaceError.check(segface_detector_load_file(path, UInt32(inputSize), &raw))
        handle = raw
    }

    deinit {
        segface_detector_free(&handle)
    }

    #if canImport(CoreVideo)
    /// The faces of the upright pixel buffer scoring at least `minScore`, best first.
    public func detect(pixelBuffer: CVPixelBuffer, rotationDegrees: Int = 0, mirrored: Bool = false,
                       minScore: Float = 0.7) throws -> [DetectedFace] {
        return try withFrame(pixelBuffer: pixelBuffer, rotationDegrees: rotationDegrees, mirrored: mirrored) {
            frame, _, _ in
            try DetectedFace.collect { out, capacity, count in
                segface_detect(handle, &frame, minScore, out, capacity, count)
            }
        }
    }
    #endif
}
