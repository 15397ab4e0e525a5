package ai.segface;

import java.nio.ByteBuffer;

/**
 * The RetinaFace face detector ({@code models/retinaface_mnet.onnx}, MIT): boxes, scores and 5
 * landmarks for every face in a frame. Thread-safe; close it to free the native memory.
 */
public final class FaceDetector implements AutoCloseable {
    static {
        System.loadLibrary("segface");
    }

    private long handle;

    private FaceDetector(long handle) {
        this.handle = handle;
    }

    /**
     * Loads the detector for a square input of {@code inputSize} pixels (a multiple of 32; 0 for
     * 640). Frames are letterboxed into it: smaller is faster and misses small faces.
     */
    public static FaceDetector load(String path, int inputSize) {
        if (path == null) throw new IllegalArgumentException("path is null");
        return new FaceDetector(nativeLoadPath(path, inputSize));
    }

    /** Loads the detector from memory (for example an asset); the bytes are not kept. */
    public static FaceDetector load(ByteBuffer modelBytes, int inputSize) {
        if (modelBytes == null) throw new IllegalArgumentException("modelBytes is null");
        ByteBuffer view = modelBytes.duplicate();
        byte[] bytes = new byte[view.remaining()];
        view.get(bytes);
        return new FaceDetector(nativeLoadBytes(bytes, inputSize));
    }

    /** The faces of the upright frame scoring at least {@code minScore} (0.7 is a good start), best first. */
    public synchronized DetectedFace[] detect(Yuv420Frame frame, float minScore) {
        if (frame == null) throw new IllegalArgumentException("frame is null");
        return DetectedFace.unpack(
                nativeDetect(liveHandle(), frame.y, frame.u, frame.v, frame.geometry(), frame.mirror, minScore));
    }

    long liveHandle() {
        if (handle == 0) throw new IllegalStateException("FaceDetector is closed");
        return handle;
    }

    @Override
    public synchronized void close() {
        if (handle != 0) {
            nativeClose(handle);
            handle = 0;
        }
    }

    private static native long nativeLoadPath(String path, int inputSize);

    private static native long nativeLoadBytes(byte[] bytes, int inputSize);

    private static native float[] nativeDetect(
            long handle, ByteBuffer y, ByteBuffer u, ByteBuffer v, int[] geometry, boolean mirror, float minScore);

    private static native void nativeClose(long handle);
}
