package ai.segface;

import android.graphics.Bitmap;
import java.nio.ByteBuffer;

/** {@link Bitmap} convenience for {@link SegFace}: one copy of the pixels per call. */
public final class SegFaceBitmaps {
    private SegFaceBitmaps() {}

    /**
     * Parses an ARGB_8888 bitmap (stored as RGBA bytes) and returns {@code width * height} labels.
     * For camera frames at full rate, keep reusable direct buffers and call {@link SegFace#parse}.
     */
    public static byte[] parse(SegFace segface, Bitmap bitmap) {
        if (bitmap.getConfig() != Bitmap.Config.ARGB_8888) {
            throw new IllegalArgumentException("bitmap must be ARGB_8888, got " + bitmap.getConfig());
        }
        int width = bitmap.getWidth();
        int height = bitmap.getHeight();
        ByteBuffer pixels = ByteBuffer.allocateDirect(bitmap.getRowBytes() * height);
        bitmap.copyPixelsToBuffer(pixels);
        ByteBuffer labels = ByteBuffer.allocateDirect(width * height);
        segface.parse(pixels, width, height, bitmap.getRowBytes(), labels);
        byte[] out = new byte[width * height];
        labels.get(out);
        return out;
    }
}
