package ai.segface;

import java.nio.ByteBuffer;

/**
 * A camera frame as {@code android.media.Image} delivers {@code YUV_420_888}: the three planes'
 * direct buffers with their row and pixel strides ({@code image.getPlanes()}), the size, and the
 * clockwise rotation (and mirroring, for front cameras) that makes it upright. The buffers are
 * only read, during the calls that take the frame.
 *
 * <pre>{@code
 * Image.Plane[] p = image.getPlanes();
 * Yuv420Frame frame = new Yuv420Frame(p[0].getBuffer(), p[0].getRowStride(), p[1].getBuffer(),
 *         p[2].getBuffer(), p[1].getRowStride(), p[1].getPixelStride(), image.getWidth(),
 *         image.getHeight(), imageInfo.getRotationDegrees(), frontCamera);
 * }</pre>
 */
public final class Yuv420Frame {
    final ByteBuffer y;
    final ByteBuffer u;
    final ByteBuffer v;
    final int width;
    final int height;
    final boolean mirror;
    private final int[] geometry;

    public Yuv420Frame(ByteBuffer y, int yRowStride, ByteBuffer u, ByteBuffer v, int uvRowStride, int uvPixelStride,
            int width, int height, int rotationDegrees, boolean mirror) {
        for (ByteBuffer b : new ByteBuffer[] {y, u, v}) {
            if (b == null) throw new IllegalArgumentException("planes must not be null");
            if (!b.isDirect()) throw new IllegalArgumentException("planes must be direct ByteBuffers");
        }
        this.y = y;
        this.u = u;
        this.v = v;
        this.width = width;
        this.height = height;
        this.mirror = mirror;
        this.geometry = new int[] {yRowStride, uvRowStride, uvPixelStride, width, height, rotationDegrees};
    }

    /** {yRowStride, uvRowStride, uvPixelStride, width, height, rotationDegrees}, as native code reads it. */
    int[] geometry() {
        return geometry.clone();
    }

    public int width() {
        return width;
    }

    public int height() {
        return height;
    }

    boolean uses(ByteBuffer b) {
        return b == y || b == u || b == v;
    }
}
