// segface C++ API: a header-only RAII layer over segface.h (C++17).
//
// Errors are exceptions: every failing call throws segface::Error, which carries the C status
// code and the library's message. Models are cheap to copy (copies share one loaded model, which
// may be used from any thread); a Session is move-only and belongs to one thread at a time.
//
//   segface::Model model = segface::Model::load("model.onnx");
//   segface::Session session(model);
//   std::vector<uint8_t> labels = session.parse(segface::ImageRef::rgba(pixels, w, h, stride));
#ifndef SEGFACE_HPP
#define SEGFACE_HPP

#include <cstddef>
#include <cstdint>
#include <memory>
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

  private:
    struct Free {
        void operator()(SegfaceSession *s) const noexcept { segface_session_free(&s); }
    };
    std::unique_ptr<SegfaceSession, Free> handle_;
};

}  // namespace segface

#endif  // SEGFACE_HPP
