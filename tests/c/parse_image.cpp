// The C++ wrapper (segface.hpp) used like a C++ AR filter would: load a model from memory, parse a
// BGRA frame, and see failures as exceptions. Usage: parse_image_cpp MODEL.onnx IMAGE.rgb WIDTH HEIGHT OUT
#include <algorithm>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <string>
#include <utility>
#include <vector>

#include "segface.hpp"

namespace {

std::vector<unsigned char> read_all(const char *path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw std::runtime_error(std::string("cannot open ") + path);
    return std::vector<unsigned char>(std::istreambuf_iterator<char>(in), {});
}

int failures = 0;

void expect(bool ok, const char *what) {
    if (!ok) {
        std::fprintf(stderr, "check failed: %s\n", what);
        ++failures;
    }
}

// Runs `f`, which must throw segface::Error with `status`.
template <typename F>
void expect_error(SegfaceStatus status, F f, const char *what) {
    try {
        f();
        expect(false, what);
    } catch (const segface::Error &e) {
        expect(e.status() == status, what);
        expect(std::string(e.what()).size() > 0, what);
    }
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

        expect_error(SEGFACE_STATUS_ERR_IO, [] { segface::Model::load("/nonexistent.onnx"); }, "missing file");
        expect_error(SEGFACE_STATUS_ERR_INVALID_MODEL, [] { segface::Model::from_memory("junk", 4); }, "junk model");
        expect_error(
            SEGFACE_STATUS_ERR_HASH_MISMATCH,
            [&] { segface::Model::load_verified(argv[1], std::string(64, 'f')); },
            "tampered model");

        segface::Model model = [&] {
            const auto bytes = read_all(argv[1]);
            return segface::Model::from_memory(bytes.data(), bytes.size());
        }();
        const segface::Model copy = model;  // copies share the loaded model
        expect(copy.num_classes() == 19 && copy.class_name(14) == "hair", "class names");
        expect_error(SEGFACE_STATUS_ERR_INVALID_ARGUMENT, [&] { copy.class_name(19); }, "class index");

        segface::Session session(model);
        segface::Session moved = std::move(session);

        const auto rgb = read_all(argv[2]);
        if (rgb.size() != static_cast<size_t>(width) * height * 3) throw std::runtime_error("bad image size");
        std::vector<uint8_t> bgra(static_cast<size_t>(width) * height * 4);
        for (size_t i = 0; i < static_cast<size_t>(width) * height; ++i) {
            bgra[i * 4 + 0] = rgb[i * 3 + 2];
            bgra[i * 4 + 1] = rgb[i * 3 + 1];
            bgra[i * 4 + 2] = rgb[i * 3 + 0];
            bgra[i * 4 + 3] = 255;
        }
        const auto frame = segface::ImageRef::bgra(bgra.data(), width, height, static_cast<size_t>(width) * 4);
        std::vector<uint8_t> small(10);
        expect_error(SEGFACE_STATUS_ERR_BUFFER_TOO_SMALL, [&] { moved.parse(frame, small.data(), small.size(), width); },
                     "small label buffer");
        const std::vector<uint8_t> labels = moved.parse(frame);

        // The same photo as a camera frame upside down (180 degrees): exactly the same labels,
        // in the frame's orientation; a box covering the whole frame changes nothing.
        const size_t n = static_cast<size_t>(width) * height;
        std::vector<uint8_t> upside_down(bgra.size());
        for (size_t i = 0; i < n; ++i)
            std::copy_n(&bgra[i * 4], 4, &upside_down[(n - 1 - i) * 4]);
        auto sensor = segface::FrameRef::packed(
            segface::ImageRef::bgra(upside_down.data(), width, height, static_cast<size_t>(width) * 4));
        const auto frame_labels = moved.parse_frame(sensor.rotated(180));
        const auto boxed = moved.parse_frame(
            sensor, segface::FaceBox{0, 0, static_cast<float>(width), static_cast<float>(height)});
        size_t differ = 0;
        for (size_t i = 0; i < n; ++i) differ += frame_labels[n - 1 - i] != labels[i];
        expect(differ == 0, "a rotated frame gives the upright labels");
        expect(boxed == frame_labels, "a whole-frame box changes nothing");
        expect_error(SEGFACE_STATUS_ERR_INVALID_ARGUMENT, [&] { moved.parse_frame(sensor.rotated(45)); },
                     "rotation by 45 degrees");
        std::ofstream(argv[5], std::ios::binary)
            .write(reinterpret_cast<const char *>(labels.data()), static_cast<std::streamsize>(labels.size()));
        if (failures) {
            std::fprintf(stderr, "%d checks failed\n", failures);
            return 1;
        }
        std::printf("c++ api: parsed %ux%u into %zu labels, all checks passed\n", width, height, labels.size());
        return 0;
    } catch (const std::exception &e) {
        std::fprintf(stderr, "error: %s\n", e.what());
        return 1;
    }
}
