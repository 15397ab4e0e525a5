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
#ifndef SEGFACE_HPP
#define SEGFACE_HPP

#include <cstddef>
#include <cstdint>
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
    // labels). With `face`, the model sees that box and pixels outside it are background.
    void parse_frame(const FrameRef &frame, std::optional<FaceBox> face, uint8_t *labels, size_t labels_len,
                     size_t labels_stride) {
        SegfaceFace c_face{};
        if (face) {
            c_face.struct_size = sizeof(c_face);
            c_face.x = face->x;
            c_face.y = face->y;
            c_face.width = face->width;
            c_face.height = face->height;
        }
        detail::check(segface_parse_frame(handle_.get(), &frame.raw(), face ? &c_face : nullptr, labels, labels_len,
                                          labels_stride));
    }

    std::vector<uint8_t> parse_frame(const FrameRef &frame, std::optional<FaceBox> face = std::nullopt) {
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

}  // namespace segface

#endif  // SEGFACE_HPP
