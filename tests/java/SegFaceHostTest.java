import ai.segface.SegFace;
import ai.segface.SegFaceException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Paths;

/**
 * Runs the Java wrapper against the Linux build of libsegface on the host, as an Android app
 * would on a phone. Usage: SegFaceHostTest MODEL IMAGE.rgb WIDTH HEIGHT OUT.labels
 */
public final class SegFaceHostTest {
    private static int failures = 0;

    private static void check(boolean ok, String what) {
        if (!ok) {
            System.err.println("check failed: " + what);
            failures++;
        }
    }

    private interface Body {
        void run() throws Exception;
    }

    private static void expectThrows(Class<? extends Throwable> type, Body body, String what) {
        try {
            body.run();
            check(false, what + ": nothing thrown");
        } catch (Throwable t) {
            check(type.isInstance(t), what + ": threw " + t);
        }
    }

    public static void main(String[] args) throws Exception {
        String model = args[0];
        byte[] rgb = Files.readAllBytes(Paths.get(args[1]));
        int width = Integer.parseInt(args[2]);
        int height = Integer.parseInt(args[3]);

        expectThrows(SegFaceException.class, () -> SegFace.load("/nonexistent/model.onnx"), "missing file");
        expectThrows(SegFaceException.class, () -> SegFace.load(ByteBuffer.wrap(new byte[] {1, 2, 3})), "junk model");

        byte[] modelBytes = Files.readAllBytes(Paths.get(model));
        try (SegFace fromMemory = SegFace.load(ByteBuffer.wrap(modelBytes))) {
            check(fromMemory.classNames().length == 19, "classes from memory");
        }

        // Integrity: the right SHA-256 loads, any other is refused.
        StringBuilder sha256 = new StringBuilder();
        for (byte b : java.security.MessageDigest.getInstance("SHA-256").digest(modelBytes)) {
            sha256.append(String.format("%02x", b));
        }
        SegFace.load(model, sha256.toString()).close();
        SegFace.load(ByteBuffer.wrap(modelBytes), sha256.toString()).close();
        String wrong = sha256.toString().replace('a', 'b').replace('0', '1');
        expectThrows(SegFaceException.class, () -> SegFace.load(model, wrong), "tampered model file");
        expectThrows(SegFaceException.class, () -> SegFace.load(ByteBuffer.wrap(modelBytes), wrong), "tampered bytes");

        // RGBA rows with 8 bytes of padding, in a direct buffer.
        int rowStride = width * 4 + 8;
        ByteBuffer rgba = ByteBuffer.allocateDirect(rowStride * height);
        for (int y = 0; y < height; y++) {
            for (int x = 0; x < width; x++) {
                int i = (y * width + x) * 3;
                int o = y * rowStride + x * 4;
                rgba.put(o, rgb[i]).put(o + 1, rgb[i + 1]).put(o + 2, rgb[i + 2]).put(o + 3, (byte) 255);
            }
        }
        ByteBuffer labels = ByteBuffer.allocateDirect(width * height);

        SegFace segface = SegFace.load(model);
        try {
            check(segface.resolution() == 256, "resolution");
            check(segface.classNames()[14].equals("hair"), "class 14 is hair");
            expectThrows(IllegalArgumentException.class,
                    () -> segface.parse(ByteBuffer.allocate(rowStride * height), width, height, rowStride, labels),
                    "heap pixels");
            expectThrows(SegFaceException.class,
                    () -> segface.parse(rgba, width, height, rowStride, ByteBuffer.allocateDirect(width * height - 1)),
                    "small labels");
            expectThrows(SegFaceException.class,
                    () -> segface.parse(rgba, width, height + 1, rowStride, labels), "image past the buffer");
            expectThrows(SegFaceException.class,
                    () -> segface.parse(rgba, width, height, width * 4 - 1, labels), "stride below a row");
            segface.parse(rgba, width, height, rowStride, labels);
        } finally {
            segface.close();
        }
        segface.close(); // closing twice is harmless
        expectThrows(IllegalStateException.class,
                () -> segface.parse(rgba, width, height, rowStride, labels), "parse after close");

        byte[] out = new byte[width * height];
        labels.get(0, out);
        Files.write(Paths.get(args[4]), out);
        if (failures > 0) {
            System.err.println(failures + " checks failed");
            System.exit(1);
        }
        System.out.println("java api: all checks passed");
    }
}
