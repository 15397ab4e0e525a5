// Video sessions over the C ABI: faces followed across frames, detection reused, results
// smoothed so masks do not flicker.
import Foundation
import SegFaceFFI
#if canImport(CoreVideo)
import CoreVideo
#endif

/// How a `SegFaceVideo` finds and smooths faces.
public struct VideoOptions {
    /// Temporal smoothing strength in [0, 1): each face's logits are kept as
    /// `s * kept + (1 - s) * new` (0: off; 0.9: about the last 10 frames count).
    public var smoothing: Float = 0.5
    /// Run the detector on one frame in this many, reuse its faces in between.
    public var detectEvery: Int = 5
    public var minScore: Float = 0.7
    public var maxFaces: Int = 4
    /// Place detected faces by their landmarks (turned upright) instead of their box.
    public var align: Bool = false
    /// Threads each parse runs on (1: the calling thread alone; as `SegFace.setThreads`).
    public var threads: Int = 1

    public init() {}
}

/// A camera stream's state. Calls are serialised; call `reset()` at scene cuts.
public final class SegFaceVideo {
    private var handle: OpaquePointer?
    private let lock = NSLock()

    /// Frames parsed without faces are searched with `detector`, or parsed whole without one.
    /// The model and detector may be released afterwards: the video keeps what it needs.
    public init(segface: SegFace, detector: FaceDetector? = nil, options: VideoOptions = VideoOptions()) throws {
        guard options.detectEvery >= 0, options.maxFaces >= 0,
              options.detectEvery <= Int(UInt32.max), options.maxFaces <= Int(UInt32.max) else {
            throw SegFaceError(status: Int32(SEGFACE_STATUS_ERR_INVALID_ARGUMENT.rawValue),
                               message: "detectEvery and maxFaces must be small non-negative counts")
        }
        var raw = SegfaceVideoOptions()
        try SegFaceError.check(segface_video_options_default(&raw))
        raw.smoothing = options.smoothing
        raw.detect_every = UInt32(options.detectEvery)
        raw.min_score = options.minScore
        raw.max_faces = UInt32(options.maxFaces)
        raw.align = options.align ? 1 : 0
        raw.threads = UInt32(max(0, min(options.threads, 64)))
        var video: OpaquePointer?
        try SegFaceError.check(segface_video_create(segface.model, detector?.handle, &raw, &video))
        handle = video
    }

    deinit {
        segface_video_free(&handle)
    }

    #if canImport(CoreVideo)
    /// Parses the next frame. `faces`: the caller's faces for this frame, or nil for the
    /// detector's (or the whole frame without a detector).
    public func parse(pixelBuffer: CVPixelBuffer, rotationDegrees: Int = 0, mirrored: Bool = false,
                      faces: [FaceRegion]? = nil, outputs: OutputRequest = OutputRequest()) throws -> ParseResult {
        return try withFrame(pixelBuffer: pixelBuffer, rotationDegrees: rotationDegrees, mirrored: mirrored) {
            frame, width, height in
            try outputs.run(width: width, height: height) { cOutputs in
                var cFaces = (faces ?? []).map { $0.cValue }
                lock.lock()
                defer { lock.unlock() }
                try cFaces.withUnsafeMutableBufferPointer { facePointer in
                    let first = facePointer.isEmpty ? nil : facePointer.baseAddress
                    try SegFaceError.check(
                        segface_video_parse(handle, &frame, first, facePointer.count, &cOutputs))
                }
            }
        }
    }
    #endif

    /// The faces the last frame used (score 0 for the caller's faces).
    public func faces() throws -> [DetectedFace] {
        lock.lock()
        defer { lock.unlock() }
        return try DetectedFace.collect { out, capacity, count in
            segface_video_faces(handle, out, capacity, count)
        }
    }

    /// Forgets every face and its history: the next frame stands alone.
    public func reset() throws {
        lock.lock()
        defer { lock.unlock() }
        try SegFaceError.check(segface_video_reset(handle))
    }
}
