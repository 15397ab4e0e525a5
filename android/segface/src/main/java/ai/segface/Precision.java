package ai.segface;

/** The arithmetic a model's operators compute in (see {@link SegFace#load(String, String, Precision)}). */
public enum Precision {
    /** float32 throughout (the default). */
    F32,
    /**
     * f16 on CPUs that compute it natively (ARMv8.2-A, most phones since 2017; see {@link
     * SegFace#f16Available()}): less memory traffic, twice the lanes per vector instruction.
     */
    F16
}
