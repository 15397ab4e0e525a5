package ai.segface;

import java.nio.ByteBuffer;

/**
 * SegFace face parsing: every pixel of a face image gets one of the model's classes (19 for the
 * CelebAMask-HQ models, in the order of {@link #classNames()}).
 *
 * <p>Load a model once, then call {@link #parse} per camera frame with direct buffers: no pixels
 * or labels are copied between Java and native code. An instance is safe to share between
 * threads (calls are serialised); for parallel parsing use one instance per thread. Close it
 * (or use try-with-resources) to free the native memory.
 */
public final class SegFace implements AutoCloseable {
    static {
        System.loadLibrary("segface");
    }

    private long handle;
    private final String[] classNames;
    private final int resolution;

    private SegFace(long handle) {
        this.handle = handle;
        this.classNames = nativeClassNames(handle);
        this.resolution = nativeResolution(handle);
    }

    /** Loads an ONNX model file made by {@code segface convert}. */
    public static SegFace load(String path) {
        return load(path, null);
    }

    /**
     * Loads an ONNX model file whose SHA-256 must be {@code sha256Hex} (64 hex digits; null to skip
     * the check): a replaced or damaged file throws {@link SegFaceException}.
     */
    public static SegFace load(String path, String sha256Hex) {
        return load(path, sha256Hex, Precision.F32);
    }

    /**
     * Like {@link #load(String, String)}, computing in {@code precision}: {@link Precision#F16}
     * throws {@link SegFaceException} on a CPU without native f16 (see {@link #f16Available()}).
     */
    public static SegFace load(String path, String sha256Hex, Precision precision) {
        if (path == null) throw new IllegalArgumentException("path is null");
        if (precision == null) throw new IllegalArgumentException("precision is null");
        return new SegFace(nativeLoadPath(path, sha256Hex, precision.ordinal()));
    }

    /** Loads a model from memory (for example an asset read into a buffer); the bytes are copied. */
    public static SegFace load(ByteBuffer modelBytes) {
        return load(modelBytes, null);
    }

    /** Like {@link #load(ByteBuffer)}, and the bytes' SHA-256 must be {@code sha256Hex} (or null). */
    public static SegFace load(ByteBuffer modelBytes, String sha256Hex) {
        return load(modelBytes, sha256Hex, Precision.F32);
    }

    /** Like {@link #load(ByteBuffer, String)}, computing in {@code precision}. */
    public static SegFace load(ByteBuffer modelBytes, String sha256Hex, Precision precision) {
        if (modelBytes == null) throw new IllegalArgumentException("modelBytes is null");
        if (precision == null) throw new IllegalArgumentException("precision is null");
        ByteBuffer view = modelBytes.duplicate();
        byte[] bytes = new byte[view.remaining()];
        view.get(bytes);
        return new SegFace(nativeLoadBytes(bytes, sha256Hex, precision.ordinal()));
    }

    /** Whether this CPU computes f16 natively, so that {@link Precision#F16} loads. */
    public static boolean f16Available() {
        return nativeF16Available();
    }

    /** The precision this model computes in. */
    public synchronized Precision precision() {
        return Precision.values()[nativePrecision(liveHandle())];
    }

    /**
     * Parses an RGBA8888 image (for example {@code Bitmap.copyPixelsToBuffer} of an ARGB_8888
     * bitmap) and writes {@code width * height} class indices, row by row, into {@code labels}.
     *
     * @param rgba direct buffer holding {@code height} rows of {@code width} RGBA pixels
     * @param rowStride bytes from one row to the next, at least {@code width * 4}
     * @param labels direct buffer of at least {@code width * height} bytes, written from index 0
     */
    public synchronized void parse(ByteBuffer rgba, int width, int height, int rowStride, ByteBuffer labels) {
        long h = liveHandle();
        if (rgba == null || labels == null) throw new IllegalArgumentException("buffers must not be null");
        if (!rgba.isDirect() || !labels.isDirect()) {
            throw new IllegalArgumentException("pixels and labels must be direct ByteBuffers (ByteBuffer.allocateDirect)");
        }
        if (rgba == labels) throw new IllegalArgumentException("pixels and labels must be different buffers");
        if (labels.isReadOnly()) throw new IllegalArgumentException("labels buffer is read-only");
        nativeParse(h, rgba, width, height, rowStride, labels);
    }

    /**
     * Parses a camera frame (in sensor orientation) and writes what {@code outputs} asks for (label
     * map, soft masks, a class-set mask) in the frame's own orientation.
     *
     * @param faces null or empty: the whole upright frame is the face; else each face (a box or
     *     landmarks, for example from {@link FaceDetector#detect}) runs the model once and its
     *     results come back into its part of the frame; other pixels are background
     */
    public synchronized void parse(Yuv420Frame frame, FaceRegion[] faces, ParseOutputs outputs) {
        if (frame == null || outputs == null) throw new IllegalArgumentException("frame and outputs must not be null");
        outputs.checkAgainst(frame);
        nativeParseFrame(liveHandle(), frame.y, frame.u, frame.v, frame.geometry(), frame.mirror, FaceRegion.pack(faces),
                outputs.labels, outputs.softMasks, outputs.classSetMask, outputs.params());
    }

    /**
     * Parses a camera frame as {@code android.media.Image} delivers {@code YUV_420_888} and writes
     * {@code width * height} labels in the frame's own orientation into {@code labels}: a shorthand
     * for {@link #parse(Yuv420Frame, FaceRegion[], ParseOutputs)}.
     *
     * @param rotationDegrees clockwise rotation that makes the frame upright (0, 90, 180, 270;
     *     CameraX's {@code ImageInfo.getRotationDegrees()})
     * @param mirror mirror left-right after rotating (front cameras)
     * @param faceBox null (the whole upright frame is the face) or {x, y, width, height} in
     *     upright pixels: the model sees that box; labels outside it are background
     */
    public void parseYuv420(
            ByteBuffer y, int yRowStride, ByteBuffer u, ByteBuffer v, int uvRowStride, int uvPixelStride,
            int width, int height, int rotationDegrees, boolean mirror, float[] faceBox, ByteBuffer labels) {
        if (faceBox != null && faceBox.length != 4) {
            throw new IllegalArgumentException("faceBox must hold x, y, width, height");
        }
        Yuv420Frame frame = new Yuv420Frame(y, yRowStride, u, v, uvRowStride, uvPixelStride, width, height,
                rotationDegrees, mirror);
        FaceRegion[] faces = faceBox == null ? null
                : new FaceRegion[] {FaceRegion.box(faceBox[0], faceBox[1], faceBox[2], faceBox[3])};
        parse(frame, faces, new ParseOutputs().labels(labels));
    }

    /**
     * Runs each parse on {@code threads} threads (1 to 64): 1, the default, is the calling thread
     * alone; more starts a pool of that many worker threads owned by this instance (replacing any
     * earlier pool). On a phone, the number of big cores is a good choice.
     *
     * @throws SegFaceException if the count is out of range or the threads cannot be started
     */
    public synchronized void setThreads(int threads) {
        nativeSetThreads(liveHandle(), threads);
    }

    /** The thread count set by {@link #setThreads} (1 unless changed). */
    public synchronized int threads() {
        return nativeThreads(liveHandle());
    }

    /** Class names in label order: label value {@code i} means {@code classNames()[i]}. */
    public String[] classNames() {
        return classNames.clone();
    }

    /** The square input resolution the model runs at. */
    public int resolution() {
        return resolution;
    }

    @Override
    public synchronized void close() {
        if (handle != 0) {
            nativeClose(handle);
            handle = 0;
        }
    }

    long liveHandle() {
        if (handle == 0) throw new IllegalStateException("SegFace is closed");
        return handle;
    }

    private static native long nativeLoadPath(String path, String sha256Hex, int precision);

    private static native long nativeLoadBytes(byte[] bytes, String sha256Hex, int precision);

    private static native boolean nativeF16Available();

    private static native int nativePrecision(long handle);

    private static native String[] nativeClassNames(long handle);

    private static native int nativeResolution(long handle);

    private static native void nativeParse(
            long handle, ByteBuffer rgba, int width, int height, int rowStride, ByteBuffer labels);

    private static native void nativeParseFrame(long handle, ByteBuffer y, ByteBuffer u, ByteBuffer v,
            int[] geometry, boolean mirror, float[] faces, ByteBuffer labels, ByteBuffer softMasks,
            ByteBuffer classSetMask, int[] params);

    private static native void nativeSetThreads(long handle, int threads);

    private static native int nativeThreads(long handle);

    private static native void nativeClose(long handle);
}
