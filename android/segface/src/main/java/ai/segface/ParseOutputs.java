package ai.segface;

import java.nio.ByteBuffer;

/**
 * What a parse writes, each frame-sized ({@code width * height} bytes per plane, rows packed, in
 * the frame's own orientation) into a direct buffer the caller owns: a label map, soft masks
 * (class probability x 255, for blending) for a set of classes, and one mask for a set of classes
 * (for example hair only). Class sets are bit masks: bit {@code i} is class {@code i}.
 */
public final class ParseOutputs {
    ByteBuffer labels;
    ByteBuffer softMasks;
    int softMaskClasses;
    ByteBuffer classSetMask;
    int classSet;
    boolean classSetSoft;

    /** Class index per pixel. */
    public ParseOutputs labels(ByteBuffer labels) {
        this.labels = checked(labels);
        return this;
    }

    /** One plane per set bit of {@code classBits}, in class order, {@code width * height} bytes apart. */
    public ParseOutputs softMasks(ByteBuffer planes, int classBits) {
        this.softMasks = checked(planes);
        this.softMaskClasses = classBits;
        return this;
    }

    /**
     * 255 where the pixel's class is in {@code classBits}, else 0; with {@code soft}, the
     * classes' summed probability x 255.
     */
    public ParseOutputs classSetMask(ByteBuffer mask, int classBits, boolean soft) {
        this.classSetMask = checked(mask);
        this.classSet = classBits;
        this.classSetSoft = soft;
        return this;
    }

    /** The bit of class {@code index}, to build class sets: {@code bit(14) | bit(16)}. */
    public static int bit(int index) {
        return 1 << index;
    }

    int[] params() {
        return new int[] {softMaskClasses, classSet, classSetSoft ? 1 : 0};
    }

    void checkAgainst(Yuv420Frame frame) {
        for (ByteBuffer b : new ByteBuffer[] {labels, softMasks, classSetMask}) {
            if (b != null && frame.uses(b)) throw new IllegalArgumentException("an output buffer is one of the planes");
        }
    }

    private static ByteBuffer checked(ByteBuffer b) {
        if (b == null) throw new IllegalArgumentException("buffer is null");
        if (!b.isDirect()) throw new IllegalArgumentException("outputs must be direct ByteBuffers");
        if (b.isReadOnly()) throw new IllegalArgumentException("output buffer is read-only");
        return b;
    }
}
