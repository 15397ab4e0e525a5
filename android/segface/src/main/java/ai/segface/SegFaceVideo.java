package ai.segface;

import java.nio.ByteBuffer;

/**
 * Parses a camera stream: faces found by a {@link FaceDetector} on one frame in
 * {@code detectEvery} and reused in between, followed from frame to frame, and their results
 * smoothed over time so masks do not flicker. Call {@link #reset} at scene cuts. Calls are
 * serialised; close it to free the native memory.
 */
public final class SegFaceVideo implements AutoCloseable {
    static {
        System.loadLibrary("segface");
    }

    private long handle;

    /**
     * @param segface the model to parse with (the video keeps what it needs; the SegFace may be
     *     closed afterwards)
     * @param detector null: frames are parsed with the caller's faces, or whole
     * @param smoothing in [0, 1): each face's logits are kept as {@code s * kept + (1 - s) * new}
     *     (0: off; 0.5: a frame's weight halves every frame; 0.9: about the last 10 frames count)
     * @param detectEvery run the detector on one frame in this many (1: every frame)
     * @param minScore detector score threshold, 0..1
     * @param maxFaces the most faces parsed per frame
     * @param align place detected faces by their landmarks (turned upright) instead of their box
     */
    public SegFaceVideo(SegFace segface, FaceDetector detector, float smoothing, int detectEvery, float minScore,
            int maxFaces, boolean align) {
        if (segface == null) throw new IllegalArgumentException("segface is null");
        synchronized (segface) {
            if (detector == null) {
                handle = nativeCreate(segface.liveHandle(), 0, smoothing, detectEvery, minScore, maxFaces, align);
            } else {
                synchronized (detector) {
                    handle = nativeCreate(segface.liveHandle(), detector.liveHandle(), smoothing, detectEvery,
                            minScore, maxFaces, align);
                }
            }
        }
    }

    /**
     * Parses the next frame into {@code outputs}. {@code faces}: the caller's faces for this frame,
     * or null for the detector's (or the whole frame without a detector).
     */
    public synchronized void parse(Yuv420Frame frame, FaceRegion[] faces, ParseOutputs outputs) {
        if (frame == null || outputs == null) throw new IllegalArgumentException("frame and outputs must not be null");
        outputs.checkAgainst(frame);
        nativeParse(liveHandle(), frame.y, frame.u, frame.v, frame.geometry(), frame.mirror, FaceRegion.pack(faces),
                outputs.labels, outputs.softMasks, outputs.classSetMask, outputs.params());
    }

    /** The faces the last frame used (score 0 for the caller's faces). */
    public synchronized DetectedFace[] faces() {
        return DetectedFace.unpack(nativeFaces(liveHandle()));
    }

    /** Forgets every face and its history: the next frame stands alone. */
    public synchronized void reset() {
        nativeReset(liveHandle());
    }

    private long liveHandle() {
        if (handle == 0) throw new IllegalStateException("SegFaceVideo is closed");
        return handle;
    }

    @Override
    public synchronized void close() {
        if (handle != 0) {
            nativeClose(handle);
            handle = 0;
        }
    }

    private static native long nativeCreate(long segface, long detector, float smoothing, int detectEvery,
            float minScore, int maxFaces, boolean align);

    private static native void nativeParse(long handle, ByteBuffer y, ByteBuffer u, ByteBuffer v, int[] geometry,
            boolean mirror, float[] faces, ByteBuffer labels, ByteBuffer softMasks, ByteBuffer classSetMask,
            int[] params);

    private static native float[] nativeFaces(long handle);

    private static native void nativeReset(long handle);

    private static native void nativeClose(long handle);
}
