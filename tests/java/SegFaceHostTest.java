import ai.segface.Precision;
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
            check(segface.precision() == Precision.F32, "float32 by default");
            if (SegFace.f16Available()) {
                try (SegFace half = SegFace.load(model, null, Precision.F16)) {
                    check(half.precision() == Precision.F16, "f16 where the CPU has it");
                }
            } else {
                expectThrows(SegFaceException.class, () -> SegFace.load(model, null, Precision.F16),
                        "f16 on a CPU without native f16");
            }
            expectThrows(IllegalArgumentException.class, () -> SegFace.load(model, null, null), "null precision");
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

            // Two threads give the same labels as one; out-of-range counts are refused and keep
            // the count that was set.
            check(segface.threads() == 1, "one thread by default");
            segface.setThreads(2);
            check(segface.threads() == 2, "two threads set");
            ByteBuffer threadedLabels = ByteBuffer.allocateDirect(width * height);
            segface.parse(rgba, width, height, rowStride, threadedLabels);
            check(threadedLabels.equals(labels), "labels on two threads equal those on one");
            for (int bad : new int[] {0, -1, 65}) {
                expectThrows(SegFaceException.class, () -> segface.setThreads(bad), bad + " threads");
            }
            check(segface.threads() == 2, "a refused count leaves the threads as they were");
            segface.setThreads(1);

            // The same picture as an Android camera delivers YUV_420_888 (full-range BT.601,
            // interleaved chroma: the U and V planes are views one byte apart, pixel stride 2).
            int cw = width / 2, ch = height / 2;
            ByteBuffer yPlane = ByteBuffer.allocateDirect(width * height);
            ByteBuffer vu = ByteBuffer.allocateDirect(width * ch);
            for (int py = 0; py < height; py++) {
                for (int px = 0; px < width; px++) {
                    int i = (py * width + px) * 3;
                    double r = rgb[i] & 0xff, g = rgb[i + 1] & 0xff, b = rgb[i + 2] & 0xff;
                    yPlane.put(py * width + px, (byte) Math.round(0.299 * r + 0.587 * g + 0.114 * b));
                }
            }
            for (int cy = 0; cy < ch; cy++) {
                for (int cx = 0; cx < cw; cx++) {
                    double su = 0, sv = 0;
                    for (int k = 0; k < 4; k++) {
                        int i = ((cy * 2 + k / 2) * width + cx * 2 + k % 2) * 3;
                        double r = rgb[i] & 0xff, g = rgb[i + 1] & 0xff, b = rgb[i + 2] & 0xff;
                        su += -0.168736 * r - 0.331264 * g + 0.5 * b + 128;
                        sv += 0.5 * r - 0.418688 * g - 0.081312 * b + 128;
                    }
                    vu.put(cy * width + cx * 2, (byte) Math.min(255, Math.round(sv / 4)));
                    vu.put(cy * width + cx * 2 + 1, (byte) Math.min(255, Math.round(su / 4)));
                }
            }
            ByteBuffer vPlane = vu.duplicate();
            vu.position(1);
            ByteBuffer uPlane = vu.slice();
            ByteBuffer yuvLabels = ByteBuffer.allocateDirect(width * height);
            segface.parseYuv420(yPlane, width, uPlane, vPlane, width, 2, width, height, 0, false, null, yuvLabels);
            int same = 0;
            for (int i = 0; i < width * height; i++) same += yuvLabels.get(i) == labels.get(i) ? 1 : 0;
            System.out.printf("java api: YUV_420_888 labels %.3f %% equal to the RGBA path%n", 100.0 * same / (width * height));
            check(same >= width * height * 998 / 1000, "YUV_420_888 labels agree with the RGBA path");
            expectThrows(SegFaceException.class,
                    () -> segface.parseYuv420(yPlane, width, uPlane, vPlane, width, 2, width, height, 45, false, null, yuvLabels),
                    "rotation by 45 degrees");
            expectThrows(IllegalArgumentException.class,
                    () -> segface.parseYuv420(yPlane, width, uPlane, vPlane, width, 2, width, height, 0, false,
                            new float[] {1, 2}, yuvLabels),
                    "face box of two numbers");
            expectThrows(SegFaceException.class,
                    () -> segface.parseYuv420(yPlane, width, uPlane, vPlane, width, 2, width, height + 2, 0, false, null,
                            ByteBuffer.allocateDirect(width * (height + 2))),
                    "planes shorter than the frame");
            expectThrows(IllegalArgumentException.class,
                    () -> segface.parseYuv420(yPlane, width, uPlane, vPlane, width, 2, width, height, 0, false, null, yPlane),
                    "labels written over a plane");
        } finally {
            segface.close();
        }
        segface.close(); // closing twice is harmless
        expectThrows(IllegalStateException.class,
                () -> segface.parse(rgba, width, height, rowStride, labels), "parse after close");
        expectThrows(IllegalStateException.class, () -> segface.setThreads(2), "threads after close");

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
