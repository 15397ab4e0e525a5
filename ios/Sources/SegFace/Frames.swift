// Camera pixel buffers as C frame descriptors, and what a frame parse returns.
import Foundation
import SegFaceFFI
#if canImport(CoreVideo)
import CoreVideo
#endif

/// A face, in upright pixels (after rotation and mirroring): a box the model sees stretched to
/// its input, or 5 landmarks (left eye, right eye, nose tip, left and right mouth corners as
/// x, y pairs) for a crop turned so the eyes are level, like SegFace's training images.
public enum FaceRegion {
    case box(FaceBox)
    case landmarks([Float])

    var cValue: SegfaceFace {
        var face = SegfaceFace()
        face.struct_size = UInt32(MemoryLayout<SegfaceFace>.size)
        switch self {
        case .box(let b):
            face.kind = UInt32(SEGFACE_FACE_BOX)
            face.x = b.x
            face.y = b.y
            face.width = b.width
            face.height = b.height
        case .landmarks(let points):
            face.kind = UInt32(SEGFACE_FACE_LANDMARKS)
            // Fewer than 10 values leave zeros, which place no face: the library reports it.
            withUnsafeMutableBytes(of: &face.landmarks) { raw in
                let out = raw.bindMemory(to: Float.self)
                for (i, v) in points.prefix(10).enumerated() { out[i] = v }
            }
        }
        return face
    }
}

/// Which outputs a frame parse writes besides the labels: soft masks (probability x 255) of
/// `softMaskClasses`, and one mask for `classSet` (255 inside, or with `classSetSoft` the set's
/// probability x 255). Class indices as in `SegFace.classNames`.
public struct OutputRequest {
    public var softMaskClasses: [Int]
    public var classSet: [Int]
    public var classSetSoft: Bool

    public init(softMaskClasses: [Int] = [], classSet: [Int] = [], classSetSoft: Bool = false) {
        self.softMaskClasses = softMaskClasses
        self.classSet = classSet
        self.classSetSoft = classSetSoft
    }

    static func bits(_ classes: [Int]) -> UInt32 {
        classes.reduce(UInt32(0)) { $0 | (($1 >= 0 && $1 < 32) ? UInt32(1) << UInt32($1) : 0) }
    }

    /// Allocates the requested planes for a `width x height` frame, lets `call` fill them
    /// through a C descriptor, and returns them.
    func run(width: Int, height: Int, _ call: (inout SegfaceOutputs) throws -> Void) throws -> ParseResult {
        let plane = width * height
        let softBits = OutputRequest.bits(softMaskClasses)
        let setBits = OutputRequest.bits(classSet)
        let softCount = softBits.nonzeroBitCount
        var labels = [UInt8](repeating: 0, count: plane)
        var soft = [UInt8](repeating: 0, count: plane * softCount)
        var mask = [UInt8](repeating: 0, count: setBits == 0 ? 0 : plane)
        try labels.withUnsafeMutableBufferPointer { labelsOut in
            try soft.withUnsafeMutableBufferPointer { softOut in
                try mask.withUnsafeMutableBufferPointer { maskOut in
                    var o = SegfaceOutputs()
                    o.struct_size = UInt32(MemoryLayout<SegfaceOutputs>.size)
                    o.labels = labelsOut.baseAddress
                    o.labels_len = plane
                    o.labels_stride = width
                    if softCount > 0 {
                        o.soft_masks = softOut.baseAddress
                        o.soft_masks_len = softOut.count
                        o.soft_masks_stride = width
                        o.soft_masks_plane_stride = plane
                        o.soft_mask_classes = softBits
                    }
                    if setBits != 0 {
                        o.class_set_mask = maskOut.baseAddress
                        o.class_set_mask_len = plane
                        o.class_set_mask_stride = width
                        o.class_set = setBits
                        o.class_set_soft = classSetSoft ? 1 : 0
                    }
                    try call(&o)
                }
            }
        }
        let softMasks = (0..<softCount).map { Array(soft[($0 * plane)..<(($0 + 1) * plane)]) }
        return ParseResult(width: width, height: height, labels: labels, softMasks: softMasks,
                           classSetMask: setBits == 0 ? nil : mask)
    }
}

/// What a frame parse wrote, each `width * height` bytes, row-major, in the frame's orientation.
public struct ParseResult {
    public let width: Int
    public let height: Int
    public let labels: [UInt8]
    /// One plane per requested class, in increasing class order.
    public let softMasks: [[UInt8]]
    public let classSetMask: [UInt8]?
}

/// A face the detector found (or a video followed), in upright pixels.
public struct DetectedFace {
    public let score: Float
    /// The tight face box.
    public let box: FaceBox
    /// The square crop SegFace should see.
    public let crop: FaceBox
    /// 5 points as x, y pairs.
    public let landmarks: [Float]

    public var asBox: FaceRegion { .box(crop) }
    public var asLandmarks: FaceRegion { .landmarks(landmarks) }

    init(_ d: SegfaceDetection) {
        score = d.score
        box = FaceBox(x: d.x, y: d.y, width: d.width, height: d.height)
        crop = FaceBox(x: d.crop_x, y: d.crop_y, width: d.crop_width, height: d.crop_height)
        var points = [Float]()
        withUnsafeBytes(of: d.landmarks) { raw in points = Array(raw.bindMemory(to: Float.self)) }
        landmarks = points
    }

    /// Calls `fill(out, capacity, &count)` until the detections fit.
    static func collect(
        _ fill: (UnsafeMutablePointer<SegfaceDetection>?, Int, UnsafeMutablePointer<Int>) -> SegfaceStatus
    ) throws -> [DetectedFace] {
        var capacity = 4
        while true {
            var blank = SegfaceDetection()
            blank.struct_size = UInt32(MemoryLayout<SegfaceDetection>.size)
            var raw = [SegfaceDetection](repeating: blank, count: capacity)
            var count = 0
            try raw.withUnsafeMutableBufferPointer { out in
                try SegFaceError.check(fill(out.baseAddress, out.count, &count))
            }
            if count <= capacity { return raw.prefix(count).map(DetectedFace.init) }
            capacity = count
        }
    }
}

#if canImport(CoreVideo)
/// Runs `body` with a C frame describing `pixelBuffer` (locked for reading meanwhile):
/// `kCVPixelFormatType_32BGRA` or biplanar 4:2:0 YUV, full or video range.
func withFrame<R>(pixelBuffer: CVPixelBuffer, rotationDegrees: Int, mirrored: Bool,
                  _ body: (inout SegfaceFrame, Int, Int) throws -> R) throws -> R {
    guard rotationDegrees >= 0, rotationDegrees <= 360 else {
        throw SegFaceError(status: Int32(SEGFACE_STATUS_ERR_INVALID_ARGUMENT.rawValue),
                           message: "rotation \(rotationDegrees) is not one of 0, 90, 180, 270")
    }
    CVPixelBufferLockBaseAddress(pixelBuffer, .readOnly)
    defer { CVPixelBufferUnlockBaseAddress(pixelBuffer, .readOnly) }
    let width = CVPixelBufferGetWidth(pixelBuffer)
    let height = CVPixelBufferGetHeight(pixelBuffer)
    var frame = SegfaceFrame()
    frame.struct_size = UInt32(MemoryLayout<SegfaceFrame>.size)
    frame.width = UInt32(width)
    frame.height = UInt32(height)
    frame.rotation_degrees = UInt32(rotationDegrees)
    frame.mirror = mirrored ? 1 : 0
    let noData = SegFaceError(status: Int32(SEGFACE_STATUS_ERR_NULL_POINTER.rawValue), message: "no pixel data")
    func plane(_ index: Int, pixelStride: Int) throws -> SegfacePlane {
        guard let base = CVPixelBufferGetBaseAddressOfPlane(pixelBuffer, index) else { throw noData }
        let stride = CVPixelBufferGetBytesPerRowOfPlane(pixelBuffer, index)
        let rows = CVPixelBufferGetHeightOfPlane(pixelBuffer, index)
        return SegfacePlane(data: base.assumingMemoryBound(to: UInt8.self), data_len: stride * rows,
                            row_stride: stride, pixel_stride: pixelStride)
    }
    let format = CVPixelBufferGetPixelFormatType(pixelBuffer)
    switch format {
    case kCVPixelFormatType_32BGRA:
        guard let base = CVPixelBufferGetBaseAddress(pixelBuffer) else { throw noData }
        let stride = CVPixelBufferGetBytesPerRow(pixelBuffer)
        frame.format = SEGFACE_PIXEL_FORMAT_BGRA8
        frame.planes.0 = SegfacePlane(data: base.assumingMemoryBound(to: UInt8.self), data_len: stride * height,
                                      row_stride: stride, pixel_stride: 4)
    case kCVPixelFormatType_420YpCbCr8BiPlanarFullRange, kCVPixelFormatType_420YpCbCr8BiPlanarVideoRange:
        frame.format = SEGFACE_PIXEL_FORMAT_NV12
        frame.yuv_range = format == kCVPixelFormatType_420YpCbCr8BiPlanarFullRange
            ? SEGFACE_YUV_RANGE_FULL : SEGFACE_YUV_RANGE_LIMITED
        frame.planes.0 = try plane(0, pixelStride: 1)
        frame.planes.1 = try plane(1, pixelStride: 2)
    default:
        throw SegFaceError(status: Int32(SEGFACE_STATUS_ERR_UNSUPPORTED_FORMAT.rawValue),
                           message: "pixel buffers must be 32BGRA or 420YpCbCr8BiPlanar (full or video range)")
    }
    return try body(&frame, width, height)
}
#endif
