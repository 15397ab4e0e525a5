// segface C++ API: a header-only RAII layer over segface.h (C++17).
//
// Errors are exceptions: every failing call throws segface::Error, which carries the C status
// code and the library's message. Models are cheap to copy (copies share one loaded model, which
// may be used from any thread); a Session is move-only and belongs to one thread at a time.
//
//   segface::Model model = segface::Model::load("model.onnx");
//   segface::Session session(model);
//   std::vector<uint8_t> labels = session.parse(segface::ImageRef::rgba(pixels, w, h, stride));
//   auto frame_labels = session.parse_frame(segface::FrameRef::nv21(w, h, y, y_len, y_stride,
//                                                                   vu, vu_len, vu_stride).rotated(270));
//
//   segface::Detector detector = segface::Detector::load("retinaface_mnet.onnx");
//   for (const segface::Detection &d : detector.detect(frame)) faces.push_back(d.landmarks_face());
//   segface::Outputs out;  // point any of labels, soft masks, class-set mask at your buffers
//   session.parse_frame(frame, faces, out);
#ifndef SEGFACE_HPP
#define SEGFACE_HPP

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "segface.h"

namespace segface {

// A failed call: `status()` is the C status code, `what()` the library's message.
class Error : public std::runtime_error {
  public:
    Error(SegfaceStatus status, const std::string &message) : std::runtime_error(message), status_(status) {}
    SegfaceStatus status() const noexcept { return status_; }

  private:
    SegfaceStatus status_;
};

namespace detail {
inline void check(SegfaceStatus status) {
    if (status != SEGFACE_STATUS_OK) {
        const char *detail = segface_last_error();
        throw Error(status, std::string(segface_status_str(status)) + (detail ? std::string(": ") + detail : ""));
    }
}
}  // namespace detail

enum class PixelFormat : int32_t {
    Rgb8 = SEGFACE_PIXEL_FORMAT_RGB8,
    Rgba8 = SEGFACE_PIXEL_FORMAT_RGBA8,
    Bgra8 = SEGFACE_PIXEL_FORMAT_BGRA8,
};

// Pixels the caller owns; nothing is copied beyond a parse call.
struct ImageRef {
    const uint8_t *data = nullptr;
    size_t data_len = 0;
    uint32_t width = 0;
    uint32_t height = 0;
    size_t row_stride = 0;
    PixelFormat format = PixelFormat::Rgb8;

    static ImageRef make(const uint8_t *data, uint32_t width, uint32_t height, size_t row_stride, PixelFormat format,
                         size_t bytes_per_pixel) {
        ImageRef image;
        image.data = data;
        image.width = width;
        image.height = height;
        image.row_stride = row_stride;
        image.format = format;
        image.data_len = height == 0 ? 0 : row_stride * (height - 1) + static_cast<size_t>(width) * bytes_per_pixel;
        return image;
    }
    static ImageRef rgb(const uint8_t *data, uint32_t width, uint32_t height, size_t row_stride) {
        return make(data, width, height, row_stride, PixelFormat::Rgb8, 3);
    }
    static ImageRef rgba(const uint8_t *data, uint32_t width, uint32_t height, size_t row_stride) {
        return make(data, width, height, row_stride, PixelFormat::Rgba8, 4);
    }
    static ImageRef bgra(const uint8_t *data, uint32_t width, uint32_t height, size_t row_stride) {
        return make(data, width, height, row_stride, PixelFormat::Bgra8, 4);
    }
};

enum class YuvRange : int32_t {
    Full = SEGFACE_YUV_RANGE_FULL,
    Limited = SEGFACE_YUV_RANGE_LIMITED,
};

// A camera frame the caller owns, in sensor orientation. Chain `.rotated(degrees)` (clockwise
// to upright) and `.mirrored()` (front cameras).
class FrameRef {
  public:
    static FrameRef packed(const ImageRef &image) {
        FrameRef f(static_cast<SegfacePixelFormat>(image.format), image.width, image.height);
        f.frame_.planes[0] = SegfacePlane{image.data, image.data_len, image.row_stride, 0};
        return f;
    }
    // Y plane, then interleaved V/U (Android's camera default; always full range).
    static FrameRef nv21(uint32_t width, uint32_t height, const uint8_t *y, size_t y_len, size_t y_stride,
                         const uint8_t *vu, size_t vu_len, size_t vu_stride) {
        FrameRef f(SEGFACE_PIXEL_FORMAT_NV21, width, height);
        f.frame_.planes[0] = SegfacePlane{y, y_len, y_stride, 1};
        f.frame_.planes[1] = SegfacePlane{vu, vu_len, vu_stride, 2};
        return f;
    }
    // Y plane, then interleaved U/V (iOS 420f / 420v).
    static FrameRef nv12(uint32_t width, uint32_t height, const uint8_t *y, size_t y_len, size_t y_stride,
                         const uint8_t *uv, size_t uv_len, size_t uv_stride, YuvRange range) {
        FrameRef f(SEGFACE_PIXEL_FORMAT_NV12, width, height);
        f.frame_.planes[0] = SegfacePlane{y, y_len, y_stride, 1};
        f.frame_.planes[1] = SegfacePlane{uv, uv_len, uv_stride, 2};
        f.frame_.yuv_range = static_cast<int32_t>(range);
        return f;
    }
    // Three planes with their own row and pixel strides (Android YUV_420_888; I420 has pixel
    // strides of 1).
    static FrameRef yuv420(uint32_t width, uint32_t height, SegfacePlane y, SegfacePlane u, SegfacePlane v,
                           YuvRange range) {
        FrameRef f(SEGFACE_PIXEL_FORMAT_YUV420, width, height);
        f.frame_.planes[0] = y;
        f.frame_.planes[1] = u;
        f.frame_.planes[2] = v;
        f.frame_.yuv_range = static_cast<int32_t>(range);
        return f;
    }
    FrameRef &rotated(uint32_t degrees) {
        frame_.rotation_degrees = degrees;
        return *this;
    }
    FrameRef &mirrored(bool mirror = true) {
        frame_.mirror = mirror ? 1 : 0;
        return *this;
    }
    const SegfaceFrame &raw() const noexcept { return frame_; }

  private:
    FrameRef(SegfacePixelFormat format, uint32_t width, uint32_t height) {
        frame_.struct_size = sizeof(frame_);
        frame_.format = format;
        frame_.width = width;
        frame_.height = height;
        frame_.yuv_range = SEGFACE_YUV_RANGE_FULL;
    }
    SegfaceFrame frame_{};
};

// Where the face is, in upright frame pixels.
struct FaceBox {
    float x = 0, y = 0, width = 0, height = 0;
};

// A face: a box the model sees stretched to its input, or 5 landmarks (left eye, right eye,
// nose tip, left and right mouth corners as x, y pairs) for a crop turned so the eyes are level.
class Face {
  public:
    Face(const FaceBox &b) {  // NOLINT: a box is a face
        face_.x = b.x;
        face_.y = b.y;
        face_.width = b.width;
        face_.height = b.height;
    }
    static Face box(float x, float y, float width, float height) { return Face(FaceBox{x, y, width, height}); }
    static Face landmarks(const std::array<float, 10> &points) {
        Face f(FaceBox{});
        f.face_.kind = SEGFACE_FACE_LANDMARKS;
        std::memcpy(f.face_.landmarks, points.data(), sizeof f.face_.landmarks);
        return f;
    }
    const SegfaceFace &raw() const noexcept { return face_; }

  private:
    SegfaceFace face_ = [] {
        SegfaceFace f{};
        f.struct_size = sizeof(f);
        f.kind = SEGFACE_FACE_BOX;
        return f;
    }();
};

// A set of classes, one bit per class index: `ClassSet{}.with(14)` is hair.
struct ClassSet {
    uint32_t bits = 0;
    ClassSet with(uint32_t class_index) const { return ClassSet{bits | (1u << class_index)}; }
};

// Where a frame parse writes, each plane frame-sized (frame height rows of width bytes) in the
// frame's own orientation, in buffers the caller owns; leave a pointer null to skip that output.
struct Outputs {
    uint8_t *labels = nullptr;
    size_t labels_len = 0, labels_stride = 0;
    // One plane per class of `soft_mask_classes`, in class order: probability x 255.
    uint8_t *soft_masks = nullptr;
    size_t soft_masks_len = 0, soft_masks_stride = 0, soft_masks_plane_stride = 0;
    ClassSet soft_mask_classes;
    // 255 where the label is in `class_set` (or with `class_set_soft`, the set's probability x 255).
    uint8_t *class_set_mask = nullptr;
    size_t class_set_mask_len = 0, class_set_mask_stride = 0;
    ClassSet class_set;
    bool class_set_soft = false;

    SegfaceOutputs raw() const noexcept {
        SegfaceOutputs o{};
        o.struct_size = sizeof(o);
        o.labels = labels;
        o.labels_len = labels_len;
        o.labels_stride = labels_stride;
        o.soft_masks = soft_masks;
        o.soft_masks_len = soft_masks_len;
        o.soft_masks_stride = soft_masks_stride;
        o.soft_masks_plane_stride = soft_masks_plane_stride;
        o.soft_mask_classes = soft_mask_classes.bits;
        o.class_set_mask = class_set_mask;
        o.class_set_mask_len = class_set_mask_len;
        o.class_set_mask_stride = class_set_mask_stride;
        o.class_set = class_set.bits;
        o.class_set_soft = class_set_soft ? 1 : 0;
        return o;
    }
};

// A face the detector found (or a video session followed), in upright frame pixels.
struct Detection {
    float score = 0;
    FaceBox box;   // the tight face box
    FaceBox crop;  // the square crop SegFace should see
    std::array<float, 10> landmarks{};

    Face box_face() const { return Face(crop); }
    Face landmarks_face() const { return Face::landmarks(landmarks); }

    static Detection from(const SegfaceDetection &d) {
        Detection out;
        out.score = d.score;
        out.box = FaceBox{d.x, d.y, d.width, d.height};
        out.crop = FaceBox{d.crop_x, d.crop_y, d.crop_width, d.crop_height};
        std::memcpy(out.landmarks.data(), d.landmarks, sizeof d.landmarks);
        return out;
    }
};

namespace detail {
// Calls `fill(out, capacity, &count)` until the detections fit.
template <typename Fill>
std::vector<Detection> detections(Fill fill) {
    std::vector<SegfaceDetection> raw(4);
    size_t count = 0;
    for (;;) {
        for (SegfaceDetection &d : raw) d.struct_size = sizeof(d);
        detail::check(fill(raw.data(), raw.size(), &count));
        if (count <= raw.size()) break;
        raw.resize(count);
    }
    std::vector<Detection> out;
    for (size_t i = 0; i < count; i++) out.push_back(Detection::from(raw[i]));
    return out;
}

inline std::vector<SegfaceFace> raw_faces(const std::vector<Face> &faces) {
    std::vector<SegfaceFace> raw;
    for (const Face &f : faces) raw.push_back(f.raw());
    return raw;
}
}  // namespace detail

class Model {
  public:
    static Model load(const std::string &path) {
        SegfaceModel *raw = nullptr;
        detail::check(segface_model_load_file(path.c_str(), &raw));
        return Model(raw);
    }
    // Throws (SEGFACE_STATUS_ERR_HASH_MISMATCH) unless the file's SHA-256 is `sha256_hex`.
    static Model load_verified(const std::string &path, const std::string &sha256_hex) {
        SegfaceModel *raw = nullptr;
        detail::check(segface_model_load_file_verified(path.c_str(), sha256_hex.c_str(), &raw));
        return Model(raw);
    }
    // The bytes are copied; the caller may free them afterwards.
    static Model from_memory(const void *data, size_t len) {
        SegfaceModel *raw = nullptr;
        detail::check(segface_model_load_memory(static_cast<const uint8_t *>(data), len, &raw));
        return Model(raw);
    }

    uint32_t num_classes() const { return segface_model_num_classes(handle_.get()); }
    uint32_t resolution() const { return segface_model_resolution(handle_.get()); }
    std::string class_name(uint32_t index) const {
        const char *name = segface_model_class_name(handle_.get(), index);
        if (!name) throw Error(SEGFACE_STATUS_ERR_INVALID_ARGUMENT, "class index out of range");
        return name;
    }
    const SegfaceModel *get() const noexcept { return handle_.get(); }

  private:
    explicit Model(SegfaceModel *raw) : handle_(raw, [](SegfaceModel *m) { segface_model_free(&m); }) {}
    std::shared_ptr<SegfaceModel> handle_;
};

class Session {
  public:
    explicit Session(const Model &model) {
        SegfaceSession *raw = nullptr;
        detail::check(segface_session_create(model.get(), &raw));
        handle_.reset(raw);
    }

    // Matrix products on `threads` threads (1, the default: the calling thread alone).
    void set_threads(uint32_t threads) { detail::check(segface_session_set_threads(handle_.get(), threads)); }

    // Writes `image.height` rows of `image.width` labels, `labels_stride` bytes apart.
    void parse(const ImageRef &image, uint8_t *labels, size_t labels_len, size_t labels_stride) {
        SegfaceImage c_image{};
        c_image.struct_size = sizeof(c_image);
        c_image.format = static_cast<SegfacePixelFormat>(image.format);
        c_image.width = image.width;
        c_image.height = image.height;
        c_image.data = image.data;
        c_image.data_len = image.data_len;
        c_image.row_stride = image.row_stride;
        detail::check(segface_parse(handle_.get(), &c_image, labels, labels_len, labels_stride));
    }

    // The label map of `image`, `width * height` bytes, row-major.
    std::vector<uint8_t> parse(const ImageRef &image) {
        std::vector<uint8_t> labels(static_cast<size_t>(image.width) * image.height);
        parse(image, labels.data(), labels.size(), image.width);
        return labels;
    }

    // Labels at the frame's own size and orientation (`frame.raw().height` rows of `width`
    // labels). With `face` (a box or landmarks), the model sees that part and pixels outside it
    // are background.
    void parse_frame(const FrameRef &frame, std::optional<Face> face, uint8_t *labels, size_t labels_len,
                     size_t labels_stride) {
        detail::check(segface_parse_frame(handle_.get(), &frame.raw(), face ? &face->raw() : nullptr, labels,
                                          labels_len, labels_stride));
    }

    // Several faces (none: the whole frame) into any of labels, soft masks, a class-set mask.
    void parse_frame(const FrameRef &frame, const std::vector<Face> &faces, const Outputs &outputs) {
        std::vector<SegfaceFace> raw = detail::raw_faces(faces);
        SegfaceOutputs out = outputs.raw();
        detail::check(segface_parse_frame_outputs(handle_.get(), &frame.raw(), raw.empty() ? nullptr : raw.data(),
                                                  raw.size(), &out));
    }

    std::vector<uint8_t> parse_frame(const FrameRef &frame, std::optional<Face> face = std::nullopt) {
        const SegfaceFrame &raw = frame.raw();
        std::vector<uint8_t> labels(static_cast<size_t>(raw.width) * raw.height);
        parse_frame(frame, face, labels.data(), labels.size(), raw.width);
        return labels;
    }

  private:
    struct Free {
        void operator()(SegfaceSession *s) const noexcept { segface_session_free(&s); }
    };
    std::unique_ptr<SegfaceSession, Free> handle_;
};

// The RetinaFace face detector; immutable, usable from several threads at once.
class Detector {
  public:
    // `input_size`: the square input (multiple of 32; 0 for 640).
    static Detector load(const std::string &path, uint32_t input_size = 0) {
        SegfaceDetector *raw = nullptr;
        detail::check(segface_detector_load_file(path.c_str(), input_size, &raw));
        return Detector(raw);
    }
    static Detector from_memory(const void *data, size_t len, uint32_t input_size = 0) {
        SegfaceDetector *raw = nullptr;
        detail::check(segface_detector_load_memory(static_cast<const uint8_t *>(data), len, input_size, &raw));
        return Detector(raw);
    }
    // The faces of the upright frame scoring at least `min_score`, best first.
    std::vector<Detection> detect(const FrameRef &frame, float min_score = 0.7f) const {
        return detail::detections([&](SegfaceDetection *out, size_t capacity, size_t *count) {
            return segface_detect(handle_.get(), &frame.raw(), min_score, out, capacity, count);
        });
    }
    const SegfaceDetector *get() const noexcept { return handle_.get(); }

  private:
    explicit Detector(SegfaceDetector *raw) : handle_(raw, [](SegfaceDetector *d) { segface_detector_free(&d); }) {}
    std::shared_ptr<SegfaceDetector> handle_;
};

// How a Video finds and smooths faces (see segface.h).
struct VideoOptions {
    float smoothing = 0.5f;
    uint32_t detect_every = 5;
    float min_score = 0.7f;
    uint32_t max_faces = 4;
    bool align = false;
    uint32_t threads = 1;
};

// A camera stream: faces followed across frames, detection reused, results smoothed. Move-only,
// one thread at a time; call reset() at scene cuts.
class Video {
  public:
    Video(const Model &model, const Detector *detector, const VideoOptions &options = VideoOptions()) {
        SegfaceVideoOptions raw_options{};
        detail::check(segface_video_options_default(&raw_options));
        raw_options.smoothing = options.smoothing;
        raw_options.detect_every = options.detect_every;
        raw_options.min_score = options.min_score;
        raw_options.max_faces = options.max_faces;
        raw_options.align = options.align ? 1 : 0;
        raw_options.threads = options.threads;
        SegfaceVideo *raw = nullptr;
        detail::check(segface_video_create(model.get(), detector ? detector->get() : nullptr, &raw_options, &raw));
        handle_.reset(raw);
    }
    // The next frame; `faces` empty: the detector's (or the whole frame without one).
    void parse(const FrameRef &frame, const Outputs &outputs, const std::vector<Face> &faces = {}) {
        std::vector<SegfaceFace> raw = detail::raw_faces(faces);
        SegfaceOutputs out = outputs.raw();
        detail::check(segface_video_parse(handle_.get(), &frame.raw(), raw.empty() ? nullptr : raw.data(), raw.size(),
                                          &out));
    }
    // The faces the last frame used.
    std::vector<Detection> faces() {
        return detail::detections([&](SegfaceDetection *out, size_t capacity, size_t *count) {
            return segface_video_faces(handle_.get(), out, capacity, count);
        });
    }
    void reset() { detail::check(segface_video_reset(handle_.get())); }

  private:
    struct Free {
        void operator()(SegfaceVideo *v) const noexcept { segface_video_free(&v); }
    };
    std::unique_ptr<SegfaceVideo, Free> handle_;
};

}  // namespace segface

#endif  // SEGFACE_HPP
