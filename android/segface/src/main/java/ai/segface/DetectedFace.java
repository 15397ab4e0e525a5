package ai.segface;

/** A face found in a frame, in upright frame pixels. */
public final class DetectedFace {
    /** Detector confidence, 0..1 (0 for a face the caller gave a video session). */
    public final float score;
    /** The tight face box (brows to chin): x, y, width, height. */
    public final float[] box;
    /** The square crop SegFace should see (2.2 times the tight box): x, y, width, height. */
    public final float[] crop;
    /** Left eye, right eye, nose tip, left and right mouth corners as x, y pairs. */
    public final float[] landmarks;

    private DetectedFace(float[] packed, int at) {
        score = packed[at];
        box = java.util.Arrays.copyOfRange(packed, at + 1, at + 5);
        crop = java.util.Arrays.copyOfRange(packed, at + 5, at + 9);
        landmarks = java.util.Arrays.copyOfRange(packed, at + 9, at + 19);
    }

    /** The face placed by its crop box. */
    public FaceRegion asBox() {
        return FaceRegion.box(crop[0], crop[1], crop[2], crop[3]);
    }

    /** The face placed by its landmarks (turned upright, like the training images). */
    public FaceRegion asLandmarks() {
        return FaceRegion.landmarks(landmarks);
    }

    /** Floats per face in the packed form native code returns. */
    static final int PACKED_FLOATS = 19;

    static DetectedFace[] unpack(float[] packed) {
        DetectedFace[] faces = new DetectedFace[packed.length / PACKED_FLOATS];
        for (int i = 0; i < faces.length; i++) faces[i] = new DetectedFace(packed, i * PACKED_FLOATS);
        return faces;
    }
}
