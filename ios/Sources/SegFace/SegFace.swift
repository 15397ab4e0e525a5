// Swift wrapper over the segface C ABI (include/segface.h).
//
// A `SegFace` owns one loaded model and one session; calls on it are serialised, so an instance
// may be shared, but parsing in parallel needs one instance per thread. Errors are thrown as
// `SegFaceError` with the library's message.
import Foundation
import SegFaceFFI
#if canImport(CoreVideo)
import CoreVideo
#endif
#if canImport(CoreGraphics)
import CoreGraphics
#endif

public struct SegFaceError: Error, CustomStringConvertible {
    /// The C status code (`SegfaceStatus`).
    public let status: Int32
    public let message: String
    public var description: String { message }

    static func check(_ status: SegfaceStatus) throws {
        guard status != SEGFACE_STATUS_OK else { return }
        let code = Int32(status.rawValue)
        let detail = segface_last_error().map { String(cString: $0) } ?? ""
        throw SegFaceError(status: code, message: String(cString: segface_status_str(code)) + ": " + detail)
    }
}

/// Where the face is, in upright pixels (after rotation and mirroring).
public struct FaceBox {
    public var x: Float
    public var y: Float
    public var width: Float
    public var height: Float
    public init(x: Float, y: Float, width: Float, height: Float) {
        self.x = x
        self.y = y
        self.width = width
        self.height = height
    }
}

/// Pixel layouts accepted by `parse`.
public enum PixelFormat {
    case rgb8, rgba8, bgra8

    var cValue: SegfacePixelFormat {
        switch self {
        case .rgb8: return SEGFACE_PIXEL_FORMAT_RGB8
        case .rgba8: return SEGFACE_PIXEL_FORMAT_RGBA8
        case .bgra8: return SEGFACE_PIXEL_FORMAT_BGRA8
        }
    }

    var bytesPerPixel: Int { self == .rgb8 ? 3 : 4 }
}

/// The arithmetic of the model's operators.
public enum Precision {
    /// float32 throughout (the default).
    case f32
    /// f16 where the device computes it natively (ARMv8.2-A: A11 and later); see `f16Available`.
    case f16

    var cValue: SegfacePrecision { self == .f16 ? SEGFACE_PRECISION_F16 : SEGFACE_PRECISION_F32 }

    /// Whether this device computes f16 natively, so that `.f16` loads.
    public static var f16Available: Bool { segface_f16_available() != 0 }
}

public final class SegFace {
    /// The model handle; a video session made from it keeps what it needs.
    private(set) var model: OpaquePointer?
    private var session: OpaquePointer?
    private let lock = NSLock()

    /// Class names in label order: label `i` means `classNames[i]`.
    public let classNames: [String]
    /// The square input resolution the model runs at.
    public let resolution: Int

    /// Loads an ONNX model made by `segface convert`. With `sha256` (64 hex digits) the file
    /// must have that hash: a replaced or damaged file throws a `SegFaceError` whose status is
    /// `SEGFACE_STATUS_ERR_HASH_MISMATCH`. `precision: .f16` throws on a device without native
    /// f16 (check `Precision.f16Available`).
    public convenience init(path: String, sha256: String? = nil, precision: Precision = .f32) throws {
        var handle: OpaquePointer?
        try SegFace.withLoadOptions(sha256: sha256, precision: precision) { options in
            try SegFaceError.check(segface_model_load_file_with(path, options, &handle))
        }
        try self.init(model: handle)
    }

    /// Loads a model from memory; the bytes are copied. `sha256` and `precision` as in
    /// `init(path:sha256:precision:)`.
    public convenience init(data: Data, sha256: String? = nil, precision: Precision = .f32) throws {
        var handle: OpaquePointer?
        try data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) in
            let bytes = raw.bindMemory(to: UInt8.self)
            try SegFace.withLoadOptions(sha256: sha256, precision: precision) { options in
                try SegFaceError.check(segface_model_load_memory_with(bytes.baseAddress, bytes.count, options, &handle))
            }
        }
        try self.init(model: handle)
    }

    /// Runs `body` with C load options; the hash string lives for the duration of the call.
    private static func withLoadOptions(sha256: String?, precision: Precision,
                                        _ body: (UnsafePointer<SegfaceLoadOptions>) throws -> Void) throws {
        var options = SegfaceLoadOptions()
        try SegFaceError.check(segface_load_options_default(&options))
        options.precision = precision.cValue
        guard let sha256 = sha256 else { return try body(&options) }
        try sha256.withCString { hash in
            options.expected_sha256 = hash
            try body(&options)
        }
    }

    /// The precision the model runs in.
    public var precision: Precision {
        segface_model_precision(model) == SEGFACE_PRECISION_F16 ? .f16 : .f32
    }

    private init(model: OpaquePointer?) throws {
        self.model = model
        let count = Int(segface_model_num_classes(model))
        classNames = (0..<count).map { String(cString: segface_model_class_name(model, UInt32($0))) }
        resolution = Int(segface_model_resolution(model))
        var session: OpaquePointer?
        do {
            try SegFaceError.check(segface_session_create(model, &session))
        } catch {
            segface_model_free(&self.model)
            throw error
        }
        self.session = session
    }

    deinit {
        segface_session_free(&session)
        segface_model_free(&model)
    }

    /// The thread count each parse runs on (1 unless changed by `setThreads`).
    public private(set) var threads = 1

    /// Runs each parse on `threads` threads (1 to 64): 1, the default, is the calling thread
    /// alone; more starts a pool of that many worker threads owned by this parser. On a phone,
    /// the number of performance cores is a good choice. Throws for counts out of range.
    public func setThreads(_ threads: Int) throws {
        lock.lock()
        defer { lock.unlock() }
        // Out-of-range counts, negative ones included, reach the library and are refused there.
        try SegFaceError.check(segface_session_set_threads(session, UInt32(clamping: threads)))
        self.threads = threads
    }

    /// Parses raw pixels and returns `width * height` labels, row-major.
    public func parse(pixels: UnsafeRawBufferPointer, width: Int, height: Int, rowStride: Int,
                      format: PixelFormat) throws -> [UInt8] {
        var labels = [UInt8](repeating: 0, count: width * height)
        try labels.withUnsafeMutableBufferPointer { out in
            try parse(pixels: pixels, width: width, height: height, rowStride: rowStride, format: format,
                      into: out, labelsStride: width)
        }
        return labels
    }

    /// Parses raw pixels into a caller-owned label buffer (`labelsStride` bytes per row).
    public func parse(pixels: UnsafeRawBufferPointer, width: Int, height: Int, rowStride: Int,
                      format: PixelFormat, into labels: UnsafeMutableBufferPointer<UInt8>,
                      labelsStride: Int) throws {
        guard width > 0, height > 0, width <= Int(UInt32.max), height <= Int(UInt32.max) else {
            throw SegFaceError(status: Int32(SEGFACE_STATUS_ERR_INVALID_ARGUMENT.rawValue),
                               message: "bad image size \(width)x\(height)")
        }
        var image = SegfaceImage()
        image.struct_size = UInt32(MemoryLayout<SegfaceImage>.size)
        image.format = format.cValue
        image.width = UInt32(width)
        image.height = UInt32(height)
        image.data = pixels.baseAddress?.assumingMemoryBound(to: UInt8.self)
        image.data_len = pixels.count
        image.row_stride = rowStride
        lock.lock()
        defer { lock.unlock() }
        try SegFaceError.check(segface_parse(session, &image, labels.baseAddress, labels.count, labelsStride))
    }

    #if canImport(CoreVideo)
    /// Parses a camera pixel buffer in sensor orientation: `kCVPixelFormatType_32BGRA`, or the
    /// camera's biplanar 4:2:0 YUV (`kCVPixelFormatType_420YpCbCr8BiPlanarFullRange` or
    /// `...VideoRange`), read in place. `rotationDegrees` is the clockwise rotation that makes it
    /// upright, `mirrored` flips it after rotating (front camera), `faceBox` (upright pixels)
    /// restricts the model to a face; labels come back at the buffer's own size and orientation.
    public func parse(pixelBuffer: CVPixelBuffer, rotationDegrees: Int = 0, mirrored: Bool = false,
                      faceBox: FaceBox? = nil) throws -> [UInt8] {
        let faces = faceBox.map { [FaceRegion.box($0)] } ?? []
        return try parse(pixelBuffer: pixelBuffer, rotationDegrees: rotationDegrees, mirrored: mirrored,
                         faces: faces, outputs: OutputRequest()).labels
    }

    /// Parses the `faces` of a camera pixel buffer (none: the whole frame) into the outputs
    /// `outputs` asks for: labels, soft masks, a class-set mask, at the buffer's size and
    /// orientation.
    public func parse(pixelBuffer: CVPixelBuffer, rotationDegrees: Int = 0, mirrored: Bool = false,
                      faces: [FaceRegion], outputs: OutputRequest) throws -> ParseResult {
        return try withFrame(pixelBuffer: pixelBuffer, rotationDegrees: rotationDegrees, mirrored: mirrored) {
            frame, width, height in
            try outputs.run(width: width, height: height) { cOutputs in
                var cFaces = faces.map { $0.cValue }
                lock.lock()
                defer { lock.unlock() }
                try cFaces.withUnsafeMutableBufferPointer { facePointer in
                    let first = facePointer.isEmpty ? nil : facePointer.baseAddress
                    try SegFaceError.check(
                        segface_parse_frame_outputs(session, &frame, first, facePointer.count, &cOutputs))
                }
            }
        }
    }
    #endif

    #if canImport(CoreGraphics)
    /// Parses a `CGImage` (drawn once into an RGBA8 buffer).
    public func parse(cgImage: CGImage) throws -> [UInt8] {
        let width = cgImage.width
        let height = cgImage.height
        let stride = width * 4
        var rgba = [UInt8](repeating: 0, count: stride * height)
        let drawn: Bool = rgba.withUnsafeMutableBytes { raw in
            guard let context = CGContext(
                data: raw.baseAddress, width: width, height: height, bitsPerComponent: 8, bytesPerRow: stride,
                space: CGColorSpaceCreateDeviceRGB(),
                bitmapInfo: CGImageAlphaInfo.noneSkipLast.rawValue) else { return false }
            context.draw(cgImage, in: CGRect(x: 0, y: 0, width: width, height: height))
            return true
        }
        guard drawn else {
            throw SegFaceError(status: Int32(SEGFACE_STATUS_ERR_INVALID_ARGUMENT.rawValue),
                               message: "cannot draw the CGImage into an RGBA buffer")
        }
        return try rgba.withUnsafeBytes { pixels in
            try parse(pixels: pixels, width: width, height: height, rowStride: stride, format: .rgba8)
        }
    }
    #endif
}
