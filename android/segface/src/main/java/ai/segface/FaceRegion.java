package ai.segface;

/**
 * Where a face is, in upright frame pixels (after rotation and mirroring): a box the model sees
 * stretched to its square input, or the face's 5 landmarks for a crop turned so the eyes are
 * level, like the images SegFace was trained on.
 */
public final class FaceRegion {
    /** Floats per face in the packed form native code reads: kind, then up to 10 values. */
    static final int PACKED_FLOATS = 11;

    private final float[] packed;

    private FaceRegion(float[] packed) {
        this.packed = packed;
    }

    /** A box; make it square and about 2.2 times the tight face box to match the training crops. */
    public static FaceRegion box(float x, float y, float width, float height) {
        float[] p = new float[PACKED_FLOATS];
        p[0] = 0;
        p[1] = x;
        p[2] = y;
        p[3] = width;
        p[4] = height;
        return new FaceRegion(p);
    }

    /**
     * Left eye, right eye, nose tip, left and right mouth corners (as seen in the image), as
     * {x0, y0, x1, y1, ..., x4, y4}.
     */
    public static FaceRegion landmarks(float[] points) {
        if (points == null || points.length != 10) {
            throw new IllegalArgumentException("landmarks must hold 5 points as 10 floats");
        }
        float[] p = new float[PACKED_FLOATS];
        p[0] = 1;
        System.arraycopy(points, 0, p, 1, 10);
        return new FaceRegion(p);
    }

    static float[] pack(FaceRegion[] faces) {
        if (faces == null) return null;
        float[] all = new float[faces.length * PACKED_FLOATS];
        for (int i = 0; i < faces.length; i++) {
            if (faces[i] == null) throw new IllegalArgumentException("faces[" + i + "] is null");
            System.arraycopy(faces[i].packed, 0, all, i * PACKED_FLOATS, PACKED_FLOATS);
        }
        return all;
    }
}
