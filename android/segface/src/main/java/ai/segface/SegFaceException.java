package ai.segface;

/** A failure reported by the segface library: bad model file, bad image geometry, and so on. */
public final class SegFaceException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    public SegFaceException(String message) {
        super(message);
    }
}
