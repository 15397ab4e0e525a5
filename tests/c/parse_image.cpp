// The header used from C++ with RAII ownership: load a model from memory, parse a BGRA image,
// write the labels. Usage: parse_image_cpp MODEL.onnx IMAGE.rgb WIDTH HEIGHT OUT.labels
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "segface.h"

namespace {

struct ModelDeleter {
    void operator()(SegfaceModel *m) const { segface_model_free(&m); }
};
struct SessionDeleter {
    void operator()(SegfaceSession *s) const { segface_session_free(&s); }
};

void check(SegfaceStatus status, const char *what) {
    if (status != SEGFACE_STATUS_OK) {
        const char *detail = segface_last_error();
        throw std::runtime_error(std::string(what) + ": " + segface_status_str(status) + ": " +
                                 (detail ? detail : ""));
    }
}

std::vector<unsigned char> read_all(const char *path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw std::runtime_error(std::string("cannot open ") + path);
    return std::vector<unsigned char>(std::istreambuf_iterator<char>(in), {});
}

}  // namespace

int main(int argc, char **argv) {
    if (argc != 6) {
        std::fprintf(stderr, "usage: %s MODEL IMAGE.rgb WIDTH HEIGHT OUT\n", argv[0]);
        return 2;
    }
    try {
        const auto width = static_cast<uint32_t>(std::stoul(argv[3]));
        const auto height = static_cast<uint32_t>(std::stoul(argv[4]));
        const auto bytes = read_all(argv[1]);
        SegfaceModel *raw_model = nullptr;
        check(segface_model_load_memory(bytes.data(), bytes.size(), &raw_model), "load");
        std::unique_ptr<SegfaceModel, ModelDeleter> model(raw_model);
        SegfaceSession *raw_session = nullptr;
        check(segface_session_create(model.get(), &raw_session), "session");
        std::unique_ptr<SegfaceSession, SessionDeleter> session(raw_session);

        const auto rgb = read_all(argv[2]);
        if (rgb.size() != static_cast<size_t>(width) * height * 3) throw std::runtime_error("bad image size");
        std::vector<unsigned char> bgra(static_cast<size_t>(width) * height * 4);
        for (size_t i = 0; i < static_cast<size_t>(width) * height; ++i) {
            bgra[i * 4 + 0] = rgb[i * 3 + 2];
            bgra[i * 4 + 1] = rgb[i * 3 + 1];
            bgra[i * 4 + 2] = rgb[i * 3 + 0];
            bgra[i * 4 + 3] = 255;
        }
        SegfaceImage image{};
        image.struct_size = sizeof(image);
        image.format = SEGFACE_PIXEL_FORMAT_BGRA8;
        image.width = width;
        image.height = height;
        image.data = bgra.data();
        image.data_len = bgra.size();
        image.row_stride = static_cast<size_t>(width) * 4;
        std::vector<uint8_t> labels(static_cast<size_t>(width) * height);
        check(segface_parse(session.get(), &image, labels.data(), labels.size(), width), "parse");
        std::ofstream(argv[5], std::ios::binary).write(reinterpret_cast<const char *>(labels.data()),
                                                       static_cast<std::streamsize>(labels.size()));
        std::printf("c++ api: parsed %ux%u, %u classes\n", width, height, segface_model_num_classes(model.get()));
        return 0;
    } catch (const std::exception &e) {
        std::fprintf(stderr, "error: %s\n", e.what());
        return 1;
    }
}
