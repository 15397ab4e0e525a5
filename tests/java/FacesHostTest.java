import ai.segface.DetectedFace;
import ai.segface.FaceDetector;
import ai.segface.FaceRegion;
import ai.segface.ParseOutputs;
import ai.segface.SegFace;
import ai.segface.SegFaceException;
import ai.segface.SegFaceVideo;
import ai.segface.Yuv420Frame;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Paths;

/**
 * The face features of the Java wrapper on the host JVM, as an AR camera app uses them: detect on
 * a YUV_420_888 frame, parse the face placed by its landmarks into labels, soft masks and a hair
 * mask, then follow it through a video session. Usage: FacesHostTest MODEL DETECTOR IMAGE.rgb
 * WIDTH HEIGHT OUT (OUT receives the landmarks-placed labels, then the video's labels).
 */
public final class FacesHostTest {
    private static final int HAIR = 14;
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

    /** The RGB image as full-range BT.601 YUV_420_888 with interleaved chroma (pixel stride 2). */
    private static Yuv420Frame yuvFrame(byte[] rgb, int width, int height) {
        ByteBuffer y = ByteBuffer.allocateDirect(width * height);
        ByteBuffer vu = ByteBuffer.allocateDirect(width * height / 2);
        for (int py = 0; py < height; py++) {
            for (int px = 0; px < width; px++) {
                int i = (py * width + px) * 3;
                double r = rgb[i] & 0xff, g = rgb[i + 1] & 0xff, b = rgb[i + 2] & 0xff;
                y.put(py * width + px, (byte) Math.round(0.299 * r + 0.587 * g + 0.114 * b));
            }
        }
        for (int cy = 0; cy < height / 2; cy++) {
            for (int cx = 0; cx < width / 2; cx++) {
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
        ByteBuffer v = vu.duplicate();
        vu.position(1);
        ByteBuffer u = vu.slice();
        return new Yuv420Frame(y, width, u, v, width, 2, width, height, 0, false);
    }

    public static void main(String[] args) throws Exception {
        byte[] rgb = Files.readAllBytes(Paths.get(args[2]));
        int width = Integer.parseInt(args[3]);
        int height = Integer.parseInt(args[4]);
        int plane = width * height;
        Yuv420Frame frame = yuvFrame(rgb, width, height);
        ByteBuffer labels = ByteBuffer.allocateDirect(plane);
        ByteBuffer videoLabels = ByteBuffer.allocateDirect(plane);

        try (SegFace segface = SegFace.load(args[0]);
                FaceDetector detector = FaceDetector.load(args[1], 0)) {
            DetectedFace[] found = detector.detect(frame, 0.7f);
            check(found.length == 1, "one face, found " + found.length);
            if (found.length != 1) System.exit(1);
            DetectedFace face = found[0];
            check(face.score > 0.9f && face.crop[2] > face.box[2], "a confident face with a wider crop");
            System.out.printf("java faces: face at %.0f,%.0f %.0fx%.0f, score %.3f%n", face.box[0], face.box[1],
                    face.box[2], face.box[3], face.score);
            expectThrows(SegFaceException.class, () -> detector.detect(frame, 1.5f), "score above 1");
            expectThrows(SegFaceException.class, () -> FaceDetector.load("/nonexistent.onnx", 0), "missing detector");

            // Placed by its landmarks: labels, soft masks of background and hair, a hair mask.
            ByteBuffer soft = ByteBuffer.allocateDirect(2 * plane);
            ByteBuffer hair = ByteBuffer.allocateDirect(plane);
            ParseOutputs outputs = new ParseOutputs()
                    .labels(labels)
                    .softMasks(soft, ParseOutputs.bit(0) | ParseOutputs.bit(HAIR))
                    .classSetMask(hair, ParseOutputs.bit(HAIR), false);
            segface.parse(frame, new FaceRegion[] {face.asLandmarks()}, outputs);
            int hairPixels = 0, labelled = 0;
            for (int i = 0; i < plane; i++) {
                boolean isHair = labels.get(i) == HAIR;
                hairPixels += isHair ? 1 : 0;
                labelled += labels.get(i) != 0 ? 1 : 0;
                check((hair.get(i) & 0xff) == (isHair ? 255 : 0), "hair mask at " + i);
                if (isHair) check((soft.get(plane + i) & 0xff) + 1 >= (soft.get(i) & 0xff), "hair probability at " + i);
            }
            System.out.printf("java faces: %d labelled pixels, %d hair%n", labelled, hairPixels);
            check(labelled > 0, "the face is labelled");

            // Bad input: overlapping outputs (two views of one buffer), an output that is a plane,
            // an unknown class bit, a short buffer.
            ByteBuffer shared = ByteBuffer.allocateDirect(2 * plane);
            ByteBuffer view = shared.duplicate();
            view.position(plane / 2);
            ParseOutputs overlapping = new ParseOutputs().labels(shared).classSetMask(view.slice(), 1, false);
            expectThrows(SegFaceException.class, () -> segface.parse(frame, null, overlapping), "overlapping outputs");
            expectThrows(SegFaceException.class,
                    () -> segface.parse(frame, null, new ParseOutputs().classSetMask(hair, 1 << 25, false)),
                    "unknown class");
            expectThrows(SegFaceException.class,
                    () -> segface.parse(frame, null, new ParseOutputs().labels(ByteBuffer.allocateDirect(plane - 1))),
                    "short labels");
            expectThrows(IllegalArgumentException.class, () -> FaceRegion.landmarks(new float[4]), "4 landmark values");

            // A video: detection on frame 1 of every 3, no smoothing: each frame is the still
            // parse of the detected crop.
            ByteBuffer still = ByteBuffer.allocateDirect(plane);
            segface.parse(frame, new FaceRegion[] {face.asBox()}, new ParseOutputs().labels(still));
            SegFaceVideo video = new SegFaceVideo(segface, detector, 0f, 3, 0.7f, 4, false);
            try {
                for (int k = 0; k < 3; k++) {
                    video.parse(frame, null, new ParseOutputs().labels(videoLabels));
                    DetectedFace[] followed = video.faces();
                    check(followed.length == 1 && followed[0].score > 0.9f, "video follows the face");
                }
                check(videoLabels.equals(still), "video frame equals the still parse of the crop");
                video.reset();
                check(video.faces().length == 0, "no faces after reset");
            } finally {
                video.close();
            }
            video.close();
            expectThrows(IllegalStateException.class, () -> video.reset(), "reset after close");
            expectThrows(SegFaceException.class, () -> new SegFaceVideo(segface, null, 1f, 3, 0.7f, 4, false),
                    "smoothing 1");
        }

        byte[] out = new byte[2 * plane];
        labels.get(0, out, 0, plane);
        videoLabels.get(0, out, plane, plane);
        Files.write(Paths.get(args[5]), out);
        if (failures > 0) {
            System.err.println(failures + " checks failed");
            System.exit(1);
        }
        System.out.println("java faces: all checks passed");
    }
}
